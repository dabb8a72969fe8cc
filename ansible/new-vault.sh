#!/usr/bin/env bash
# Writes group_vars/all/vault.yml with a fresh random value for every secret (MQTT passwords of the
# edges, cores and operator, the Redis passwords, the cluster secret, and the multi-host layout's NATS
# route, Redis replication and Sentinel passwords) and encrypts it with ansible-vault.
# It never overwrites a vault: rotate single values with `ansible-vault edit` (README: "Rotating").
#
#   cd ansible && ./new-vault.sh                      # asks for the new vault password
#   ANSIBLE_VAULT_PASSWORD_FILE=~/.vault-pass ./new-vault.sh
#   VAULT_FILE=/elsewhere/vault.yml ./new-vault.sh    # another target
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
target=${VAULT_FILE:-group_vars/all/vault.yml}
[ -e "$target" ] && { echo "new-vault: $target exists; not overwriting it" >&2; exit 1; }
# n random bytes as hex (2n characters), from the kernel's generator.
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
umask 077
plain=$(mktemp)
trap 'rm -f "$plain"' EXIT
cat >"$plain" <<VAULT
---
# Made by new-vault.sh on $(date -u +%Y-%m-%d). Edit with: ansible-vault edit $target
vault_mqtt_edge_password: $(hex 24)
vault_mqtt_core_password: $(hex 24)
vault_mqtt_operator_password: $(hex 24)
vault_cluster_secret: $(hex 32)
vault_redis_admin_password: $(hex 24)
vault_redis_app_password: $(hex 24)
# The multi-host layout (multi-host.yml): NATS routes, Redis replication and Sentinels.
vault_nats_route_password: $(hex 24)
vault_redis_replication_password: $(hex 24)
vault_redis_sentinel_password: $(hex 24)
vault_redis_sentinel_acl_password: $(hex 24)
VAULT
ansible-vault encrypt --output "$target" "$plain"
echo "new-vault: wrote $target (encrypted)"
