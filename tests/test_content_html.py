"""Sanitising and placeholders of content HTML (content/html.py)."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from mandant.content.html import (
    PLACEHOLDERS,
    asset_keys_in,
    check_placeholders,
    placeholders_in,
    render_preview,
    sanitize_html,
)
from mandant.content.models import ContentItem, ContentKind


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def messages(exc: ValidationError, field: str) -> list[str]:
    return [str(m) for m in exc.message_dict[field]]


# --- sanitising: what goes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>Hi</p><script>alert(1)</script>", ["<script", "alert"]),
        ("<p>Hi</p><SCRIPT SRC=//evil.example/x.js></SCRIPT>", ["script", "evil"]),
        ("<style>body{background:red}</style><p>Hi</p>", ["<style", "background"]),
        ('<iframe src="https://evil.example"></iframe><p>Hi</p>', ["iframe", "evil"]),
        ('<object data="x.swf"></object><embed src="x.swf"><p>Hi</p>', ["object", "embed"]),
        ('<form action="https://evil.example"><input name="pw"></form>', ["<form", "<input"]),
        ('<p onclick="steal()">Hi</p>', ["onclick", "steal"]),
        ('<img src="https://x.example/a.png" onerror="steal()">', ["onerror", "steal"]),
        ('<body onload="steal()"><p>Hi</p></body>', ["onload", "steal"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript"]),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', ["avascript"]),
        ('<a href="vbscript:msgbox(1)">x</a>', ["vbscript"]),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "script"]),
        ('<img src="data:image/png;base64,AAAA">', ["data:"]),
        ('<p style="background:url(javascript:alert(1))">x</p>', ["javascript", "url("]),
        ('<p style="width: expression(alert(1))">x</p>', ["expression"]),
        ("<p>Hi</p><!-- secret comment -->", ["secret", "<!--"]),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example">', ["refresh"]),
        ('<svg onload="alert(1)"><circle r="1"/></svg>', ["onload", "<svg"]),
    ],
)
def test_dangerous_markup_is_removed(dirty, forbidden):
    clean = sanitize_html(dirty)

    for fragment in forbidden:
        assert fragment.lower() not in clean.lower(), clean


def test_text_around_removed_elements_is_kept():
    assert sanitize_html('<p onclick="x()">Hello</p><script>bad()</script>') == "<p>Hello</p>"


def test_empty_html_stays_empty():
    assert sanitize_html("") == ""
    assert sanitize_html("   \n ") == ""


# --- sanitising: what stays -------------------------------------------------------------------


def test_email_layout_tables_keep_their_attributes():
    html = (
        '<table width="600" border="0" cellpadding="0" cellspacing="0" bgcolor="#ffffff" '
        'align="center"><thead><tr><th align="left">A</th></tr></thead><tbody>'
        '<tr><td valign="top" width="300" height="20" bgcolor="#eeeeee" colspan="2" '
        'rowspan="1" align="right">B</td></tr></tbody></table>'
    )
    clean = sanitize_html(html)

    for fragment in (
        'width="600"',
        'border="0"',
        'cellpadding="0"',
        'cellspacing="0"',
        'bgcolor="#ffffff"',
        'align="center"',
        "<thead>",
        "<tbody>",
        '<th align="left">',
        'valign="top"',
        'height="20"',
        'colspan="2"',
        'rowspan="1"',
    ):
        assert fragment in clean, fragment


def test_inline_styles_and_formatting_are_kept():
    html = (
        '<div style="color: #333333; font-family: Arial, sans-serif; padding: 10px">'
        "<h1>Title</h1><h2>Sub</h2><p>a<br>b</p><hr><strong>s</strong><em>e</em><b>b</b>"
        "<i>i</i><u>u</u><ul><li>x</li></ul><ol><li>y</li></ol><blockquote>q</blockquote>"
        '<center>c</center><font color="red" size="2" face="Arial">f</font>'
        '<span style="font-weight:bold">w</span></div>'
    )
    clean = sanitize_html(html)

    assert "color: #333333" in clean or "color:#333333" in clean
    assert "padding" in clean
    for tag in ("h1", "h2", "br", "hr", "strong", "em", "b", "i", "u", "ul", "ol", "li"):
        assert f"<{tag}>" in clean, tag
    assert "<blockquote>q</blockquote>" in clean
    assert "<center>c</center>" in clean
    assert '<font color="red" size="2" face="Arial">f</font>' in clean
    assert "font-weight:bold" in clean.replace(" ", "")


def test_links_keep_href_title_target_and_get_rel():
    clean = sanitize_html(
        '<a href="https://example.com/x?a=1&amp;b=2" title="T" target="_blank">x</a>'
        '<a href="mailto:info@example.com">m</a><a href="/relative/path">r</a>'
    )

    assert 'href="https://example.com/x?a=1&amp;b=2"' in clean
    assert 'title="T"' in clean
    assert 'target="_blank"' in clean
    assert 'rel="noopener noreferrer"' in clean
    assert 'href="mailto:info@example.com"' in clean
    assert 'href="/relative/path"' in clean


def test_images_keep_src_alt_size_and_asset_references():
    key = uuid.uuid4()
    clean = sanitize_html(
        f'<img src="asset:{key}" alt="Logo" width="120" height="40" style="display:block">'
        '<img src="https://cdn.example/a.png" alt="">'
    )

    assert f'src="asset:{key}"' in clean
    assert 'alt="Logo"' in clean
    assert 'width="120"' in clean and 'height="40"' in clean
    assert "display:block" in clean
    assert 'src="https://cdn.example/a.png"' in clean


@pytest.mark.parametrize(
    "html",
    [
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        '<a href="{{unsubscribe_url}}">Unsubscribe</a>',
        '<a href="{{ webversion_url }}">Web version</a>',
        '<a href="https://example.com/?email={{ contact.email }}">Profile</a>',
        '<a href="mailto:{{ contact.email }}">Mail</a>',
        "<p>Hello {{ contact.first_name }} {{contact.last_name}},</p>",
        '<td bgcolor="#fff">{{ content }}</td>',
    ],
)
def test_placeholders_survive_sanitising(html):
    placeholders = placeholders_in(html)
    assert placeholders

    assert placeholders_in(sanitize_html(html)) == placeholders
    for name in placeholders:
        assert name in sanitize_html(html)


def test_unsubscribe_placeholder_href_is_kept_verbatim():
    clean = sanitize_html('<a href="{{ unsubscribe_url }}">Abmelden</a>')

    assert 'href="{{ unsubscribe_url }}"' in clean


# --- placeholders ------------------------------------------------------------------------------


def test_known_placeholders_pass_with_and_without_spaces():
    for name in PLACEHOLDERS:
        check_placeholders(f"Hi {{{{ {name} }}}} and {{{{{name}}}}}", field="html")


def test_placeholders_in_lists_each_once_in_order():
    value = "{{ tenant.name }} {{ contact.first_name }} {{tenant.name}}"

    assert placeholders_in(value) == ["tenant.name", "contact.first_name"]


def test_unknown_placeholder_is_refused_naming_it_and_the_allowed_ones():
    with pytest.raises(ValidationError) as info:
        check_placeholders("Hello {{ contact.firstname }}!", field="subject")

    [message] = messages(info.value, "subject")
    assert "{{ contact.firstname }}" in message
    assert "{{ contact.first_name }}" in message  # the allowed ones are listed
    assert "{{ content }}" not in message  # not offered outside templates


def test_several_unknown_placeholders_are_all_named():
    with pytest.raises(ValidationError) as info:
        check_placeholders("{{ foo }} {{ contact.email }} {{ bar.baz }}", field="text")

    [message] = messages(info.value, "text")
    assert "{{ foo }}" in message and "{{ bar.baz }}" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hi {{ first name }}", "{{ first name }}"),
        ("Hi {{ }}", "{{ }}"),
        ("Hi {{ contact.first-name }}", "{{ contact.first-name }}"),
        ("Hi {{ contact.first_name ", "not closed"),
        ("Hi {{ {{ contact.first_name }}", "not closed"),
        ("Hi contact.first_name }}", "not opened"),
    ],
)
def test_malformed_placeholders_are_refused_clearly(value, expected):
    with pytest.raises(ValidationError) as info:
        check_placeholders(value, field="html")

    [message] = messages(info.value, "html")
    assert expected in message


def test_content_placeholder_only_in_templates():
    check_placeholders("<div>{{ content }}</div>", field="html", allow_content=True)

    with pytest.raises(ValidationError) as info:
        check_placeholders("<div>{{ content }}</div>", field="html")
    assert "only be used in templates" in messages(info.value, "html")[0]


def test_single_braces_are_not_placeholders():
    check_placeholders("p { color: red } and a {b}", field="html")


# --- asset references ----------------------------------------------------------------------


def test_asset_keys_in_finds_each_reference_once_normalised():
    first, second = uuid.uuid4(), uuid.uuid4()
    html = (
        f'<img src="asset:{first}"><img src="asset:{str(second).upper()}">'
        f"<img src='asset:{first}'><img src=\"https://x.example/asset:{uuid.uuid4()}\">"
        '<img src="asset:not-a-uuid">'
    )

    assert asset_keys_in(html) == [str(first), str(second), "not-a-uuid"]


# --- preview -------------------------------------------------------------------------------


def test_preview_fills_sample_values_and_escapes_them(world):
    item = ContentItem(
        tenant=world.kunde1,
        kind=ContentKind.TEMPLATE,
        name="T",
        subject="Hi",
        html="<p>Hello {{ contact.first_name }} from {{ tenant.name }}</p>{{ content }}",
        text="Hello {{ contact.first_name }}",
    )
    world.kunde1.name = "A & B <Ltd>"

    document, text = render_preview(tenant=world.kunde1, item=item)

    assert document.startswith("<!DOCTYPE html>")
    assert "Hello Erika from A &amp; B &lt;Ltd&gt;" in document
    assert "{{" not in document
    assert text == "Hello Erika"


def test_preview_points_asset_references_at_the_given_url(world):
    key = uuid.uuid4()
    item = ContentItem(
        tenant=world.kunde1,
        kind=ContentKind.TEXT_BLOCK,
        name="B",
        html=f'<img src="asset:{key}" alt="x">',
    )

    document, _text = render_preview(
        tenant=world.kunde1, item=item, asset_url=lambda k: f"/img/{k}?a=1&b=2"
    )

    assert f'src="/img/{key}?a=1&amp;b=2"' in document
