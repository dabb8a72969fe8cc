#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Chatcast: idempotent management of a Mosquitto 2.x password file.
"""Ansible module: write a mosquitto password file only when it has to change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mosquitto_password_file
short_description: Manage a Mosquitto password file idempotently
description:
  - Writes a Mosquitto 2.x password file (C($7$) PBKDF2-SHA512 hashes, the
    format C(mosquitto_passwd) produces) from a list of users.
  - An existing entry is kept as is when its hash still verifies against the
    wanted password, so the file (and the broker) is only touched when a user
    or a password really changed. C(mosquitto_passwd) itself uses a random
    salt every time and therefore cannot be used idempotently.
  - Entries for users not in the list are removed.
options:
  path:
    description: Password file to manage.
    type: path
    required: true
  users:
    description: List of dicts with C(name) and C(password).
    type: list
    elements: dict
    required: true
  iterations:
    description: PBKDF2 iterations for new hashes (mosquitto's default is 101).
    type: int
    default: 101
extends_documentation_fragment: [files]
author: Chatcast
"""

EXAMPLES = r"""
- name: Write the password file
  mosquitto_password_file:
    path: /etc/mosquitto/passwd
    users:
      - {name: chatcast_edge, password: "{{ vault_mqtt_edge_password }}"}
    owner: root
    group: mosquitto
    mode: "0640"
  no_log: true
"""

RETURN = r"""
users_changed:
  description: Names of the users whose entry was added, re-hashed or removed.
  returned: always
  type: list
  elements: str
"""

import base64
import hashlib
import hmac
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _verify(entry_hash, password):
    """Return True when a mosquitto hash ($6$ or $7$) matches password."""
    parts = entry_hash.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations = int(parts[2])
            salt = base64.b64decode(parts[3])
            want = base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(want))
            return hmac.compare_digest(got, want)
        if len(parts) == 4 and parts[1] == "6":
            salt = base64.b64decode(parts[2])
            want = base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode("utf-8") + salt).digest()
            return hmac.compare_digest(got, want)
    except (ValueError, TypeError):
        return False
    return False


def _hash(password, iterations):
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return "$7$%d$%s$%s" % (
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(digest).decode("ascii"),
    )


def _read(path):
    entries = {}
    order = []
    if not os.path.exists(path):
        return entries, order
    with open(path, "r", encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if not line or line.startswith("#") or ":" not in line:
                continue
            name, pw_hash = line.split(":", 1)
            entries[name] = pw_hash
            order.append(name)
    return entries, order


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            users=dict(type="list", elements="dict", required=True, no_log=True),
            iterations=dict(type="int", default=101),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    users = module.params["users"]
    iterations = module.params["iterations"]

    seen = set()
    for user in users:
        name = user.get("name")
        password = user.get("password")
        if not name or not isinstance(name, str) or ":" in name or "\n" in name:
            module.fail_json(msg="every user needs a name without ':' or newlines")
        if not password or not isinstance(password, str) or "\n" in password:
            module.fail_json(msg="user %s needs a non-empty single-line password" % name)
        if name in seen:
            module.fail_json(msg="user %s is listed twice" % name)
        seen.add(name)

    existing, existing_order = _read(path)
    changed_users = []
    lines = []
    for user in users:
        name = user["name"]
        current = existing.get(name)
        if current is not None and _verify(current, user["password"]):
            lines.append("%s:%s" % (name, current))
        else:
            lines.append("%s:%s" % (name, _hash(user["password"], iterations)))
            changed_users.append(name)
    removed = [name for name in existing_order if name not in seen]
    changed_users.extend(removed)

    # A pure re-ordering of the same users counts as a change too.
    if not changed_users and existing_order != [u["name"] for u in users]:
        changed_users = [u["name"] for u in users]

    content_changed = bool(changed_users) or not os.path.exists(path)
    if content_changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".passwd-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            os.chmod(tmp_path, 0o600)
            module.atomic_move(tmp_path, path)
        finally:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)

    file_args = module.load_file_common_arguments(module.params)
    changed = content_changed
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, path=path, users_changed=sorted(changed_users))


if __name__ == "__main__":
    main()
