#!/bin/sh
# The container's entrypoint (run by tini): /app/docker-entrypoint.sh [channelwatch arguments]
#
# Started as root (the image's default), it
#   1. reads PUID and PGID (default 1000 and 1000; Unraid's nobody:users is 99 and 100)
#      and UMASK (default 022), and refuses values that are not numbers;
#   2. gives the image's `channelwatch` user and group those ids;
#   3. makes the data directory ($CHANNELWATCH_DATA_DIR, /config in the image) theirs:
#      the whole tree when the directory itself belongs to someone else (the first start,
#      or after PUID/PGID changed), otherwise only its direct entries that do not (for
#      example files left by a `docker exec` run as root), so a big tree is not walked
#      on every start;
#   4. drops root with setpriv and execs /app/channelwatch with the container's arguments.
# Started as any other user (Kubernetes runAsUser, `docker run --user`), it changes
# nothing and execs /app/channelwatch directly; PUID/PGID are then ignored, UMASK applies.
#
# CW_ENTRYPOINT_DRY_RUN=1 prints what it would do (the uid, gid, umask and the command)
# on stdout and changes nothing; the tests use it.
set -eu

app=/app/channelwatch
user=channelwatch
data_dir=${CHANNELWATCH_DATA_DIR:-/config}
dry_run=${CW_ENTRYPOINT_DRY_RUN:-0}
puid_given=${PUID:+yes}
puid=${PUID:-1000}
pgid=${PGID:-1000}
mask=${UMASK:-022}

log() { printf 'channelwatch-entrypoint: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
# Prints a dry run's line on stdout.
say() { printf 'dry run: %s\n' "$*"; }
# Runs a command that changes the container, or in a dry run only prints it.
run() {
  if [ "$dry_run" = 1 ]; then
    say "would run: $*"
  else
    "$@"
  fi
}

# A user or group id: decimal digits only, at most 4294967294; leading zeros dropped.
check_id() {
  name=$1
  value=$2
  case $value in
    '' | *[!0-9]*) die "$name must be a number (a user or group id such as 1000 or 99), not '$value'" ;;
  esac
  value=$(printf '%s' "$value" | sed 's/^0*//')
  value=${value:-0}
  if [ ${#value} -gt 10 ] || [ "$value" -gt 4294967294 ]; then
    die "$name is too large: '$value'"
  fi
  printf '%s' "$value"
}

case $mask in
  [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;;
  *) die "UMASK must be three or four octal digits such as 022 or 002, not '$mask'" ;;
esac
# Checked in every mode, so a typo is reported wherever the container runs.
puid=$(check_id PUID "$puid") || exit 1
pgid=$(check_id PGID "$pgid") || exit 1
umask "$mask"

if [ "$(id -u)" != 0 ]; then
  if [ -n "$puid_given" ] && [ "$puid" != "$(id -u)" ]; then
    log "running as uid $(id -u), not root: PUID/PGID are ignored"
  fi
  if [ "$dry_run" = 1 ]; then
    say "would run as uid=$(id -u) gid=$(id -g) umask=$mask"
    say "would exec: $app $*"
    exit 0
  fi
  exec "$app" "$@"
fi

# Root: give the channelwatch user and group the requested ids.
if [ "$puid" = 0 ]; then
  log "warning: PUID=0 runs ChannelWatch as root"
elif getent passwd "$user" >/dev/null 2>&1; then
  cur_gid=$(getent group "$user" | cut -d: -f3)
  cur_uid=$(getent passwd "$user" | cut -d: -f3)
  cur_primary=$(getent passwd "$user" | cut -d: -f4)
  if [ "$cur_gid" != "$pgid" ]; then
    run groupmod -o -g "$pgid" "$user" ||
      die "cannot set the group id of '$user' to $pgid (is the root filesystem read-only?)"
  fi
  # The user's home is /nonexistent, so usermod does not walk (and chown) a home tree.
  if [ "$cur_uid" != "$puid" ] || [ "$cur_primary" != "$pgid" ]; then
    run usermod -o -u "$puid" -g "$pgid" "$user" ||
      die "cannot set the user id of '$user' to $puid (is the root filesystem read-only?)"
  fi
elif [ "$dry_run" = 1 ]; then
  say "no '$user' user here (the image creates it): would give it uid $puid, gid $pgid"
else
  die "this image has no '$user' user"
fi

# Root: the data directory belongs to PUID:PGID.
if [ ! -d "$data_dir" ]; then
  run mkdir -p "$data_dir"
fi
owner=$(stat -L -c '%u:%g' "$data_dir" 2>/dev/null || echo none)
if [ "$owner" != "$puid:$pgid" ]; then
  log "$data_dir belongs to $owner: giving it (and everything in it) to $puid:$pgid"
  depth=
  run chown "$puid:$pgid" "$data_dir" ||
    log "warning: could not give $data_dir to $puid:$pgid; ChannelWatch may be unable to write there"
else
  depth='-maxdepth 1'
fi
# -H: a data directory that is a symlink is followed; chown -h: links inside are not.
# shellcheck disable=SC2086 # $depth is empty or two words on purpose
run find -H "$data_dir" -mindepth 1 $depth '(' ! -user "$puid" -o ! -group "$pgid" ')' \
  -exec chown -h "$puid:$pgid" '{}' + ||
  log "warning: could not give every file in $data_dir to $puid:$pgid"

if [ "$dry_run" = 1 ]; then
  say "would run as uid=$puid gid=$pgid umask=$mask"
  say "would exec: setpriv --reuid=$puid --regid=$pgid --init-groups $app $*"
  exit 0
fi
# The process's HOME would otherwise stay root's (/root, unreadable after the switch).
HOME=$data_dir
export HOME
exec setpriv --reuid="$puid" --regid="$pgid" --init-groups "$app" "$@"
