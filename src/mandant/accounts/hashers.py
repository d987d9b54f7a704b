"""The password hasher, tuned for the deployment (see docs/benchmarks.md, "Password hashing").

Django's Argon2PasswordHasher defaults (time_cost 2, memory_cost 100 MiB, parallelism 8) took
a median of ~330 ms per hash on the 2-core reference machine, above the 50–250 ms aimed at
for a login. These parameters (Argon2id, 46 MiB, 2 passes, 1 lane; stronger than OWASP's
minimum of 46 MiB with 1 pass) take ~130 ms there.

The algorithm name stays ``argon2``: every existing hash keeps verifying (its parameters are
stored in it) and is re-hashed with these parameters at the user's next login.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class MandantArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 47104  # KiB = 46 MiB
    parallelism = 1
