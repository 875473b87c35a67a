#!/usr/bin/env bash
# Make a fresh backup inside the shop container, then copy the backup folder off this
# machine with rsync (over ssh). Meant for root's crontab, e.g. nightly at 03:17:
#   17 3 * * * OFFSITE_TARGET=backup@backup.example.net:shop/ /opt/shop/deploy/leaseweb/backup-offsite.sh >>/var/log/shop-backup.log 2>&1
# Env:
#   OFFSITE_TARGET  (required) rsync destination, e.g. user@host:path/ or /mnt/nas/shop/
#   OFFSITE_SSH     ssh command for rsync (default: ssh -o BatchMode=yes)
#   OFFSITE_DELETE  1: also delete remote archives that are gone here (default: keep them)
#   COMPOSE_DIR     folder holding compose.yaml (default: this script's folder)
set -euo pipefail

usage() {
    cat >&2 <<USAGE
usage: OFFSITE_TARGET=user@host:path/ $(basename "$0")

Runs 'python -m shop backup' in the running shop container, then rsyncs the backup
folder (BACKUP_DIR of the container, on its /data volume) to OFFSITE_TARGET.
Optional: OFFSITE_SSH (default 'ssh -o BatchMode=yes'), OFFSITE_DELETE=1, COMPOSE_DIR.
Run as root (the archives are readable by the container's user only).
USAGE
    exit 2
}

[[ $# -eq 0 ]] || usage
[[ -n "${OFFSITE_TARGET:-}" ]] || usage

COMPOSE_DIR="${COMPOSE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
cd "$COMPOSE_DIR"
log() { echo "$(date -u +%FT%TZ) backup-offsite: $*"; }

log "making a backup in the shop container"
docker compose exec -T shop python -m shop backup

# Where BACKUP_DIR (default /data/backups) is on this host: below the /data mount's source.
container="$(docker compose ps -q shop)"
[[ -n "$container" ]] || {
    log "the shop container is not running"
    exit 1
}
backup_dir="$(docker compose exec -T shop sh -c 'echo "${BACKUP_DIR:-/data/backups}"' | tr -d '\r')"
data_source="$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Source}}{{end}}{{end}}' "$container")"
case "$backup_dir" in
/data) relative="" ;;
/data/*) relative="${backup_dir#/data/}" ;;
*)
    log "BACKUP_DIR=$backup_dir is not under /data, so it is not on the host; set it under /data"
    exit 1
    ;;
esac
[[ -n "$data_source" ]] || {
    log "the shop container has no /data volume"
    exit 1
}
source_dir="$data_source/${relative}"
source_dir="${source_dir%/}/"
[[ -d "$source_dir" ]] || {
    log "no backup folder at $source_dir"
    exit 1
}

rsync_args=(-a --partial --include='shop-backup-*.tar.gz' --exclude='*')
if [[ "${OFFSITE_DELETE:-0}" == 1 ]]; then
    rsync_args+=(--delete)
fi
log "copying $source_dir to $OFFSITE_TARGET"
rsync "${rsync_args[@]}" -e "${OFFSITE_SSH:-ssh -o BatchMode=yes}" "$source_dir" "$OFFSITE_TARGET"
log "done"
