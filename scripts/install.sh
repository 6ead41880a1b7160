#!/usr/bin/env bash
# Installs ai-bridge on a dialer box (Debian/Ubuntu, ViciBox/openSUSE, CentOS/Alma/Rocky).
# Idempotent: run it again to upgrade; an existing config is never overwritten.
#
#   scripts/install.sh [--dry-run] [--prefix DIR] [--max-calls N] [--start]
#   scripts/install.sh --uninstall [--purge] [--dry-run]
#
# Options:
#   --dry-run          print every action, change nothing
#   --prefix DIR       application directory (default /opt/ai-bridge)
#   --root DIR         install into DIR as a throw-away root (tests, images): no packages, no
#                      user, no systemctl, no npm unless --with-npm
#   --max-calls N      sizes LimitNOFILE in the unit (default 100)
#   --pkg-manager M    apt|zypper|dnf|none (default: detected)
#   --skip-packages    do not install system packages
#   --with-npm         run npm ci even with --root
#   --start            start the service now (default: enable only; edit the config first)
#   --uninstall        remove the service and application; call records and config stay
#   --purge            with --uninstall: also delete call records, config and the system user
set -euo pipefail

APP_USER=ai-bridge
PREFIX=/opt/ai-bridge
ROOT=
DRY_RUN=0
UNINSTALL=0
PURGE=0
MAX_CALLS=100
PKG_MANAGER=
SKIP_PACKAGES=0
WITH_NPM=0
START=0
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }

# Every change to the system goes through run: printed in dry-run mode, executed otherwise.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '[dry-run] %s\n' "$*"
  else
    "$@"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    --max-calls) MAX_CALLS="${2:?--max-calls needs a number}"; shift ;;
    --pkg-manager) PKG_MANAGER="${2:?--pkg-manager needs apt|zypper|dnf|none}"; shift ;;
    --skip-packages) SKIP_PACKAGES=1 ;;
    --with-npm) WITH_NPM=1 ;;
    --start) START=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

case "$MAX_CALLS" in ''|*[!0-9]*) die "--max-calls must be a positive number" ;; esac
[ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ] && die "--purge only goes with --uninstall"

APP_DIR="${ROOT}${PREFIX}"
CONF_DIR="${ROOT}/etc/ai-bridge"
CONF_FILE="${CONF_DIR}/config.yaml"
DATA_DIR="${ROOT}/var/lib/ai-bridge"
UNIT_DIR="${ROOT}/etc/systemd/system"
UNIT_FILE="${UNIT_DIR}/ai-bridge.service"

# Inside a throw-away root there is no init system, user database or package manager to touch.
in_root() { [ -n "$ROOT" ]; }
have() { command -v "$1" >/dev/null 2>&1; }
has_systemd() { ! in_root && have systemctl && [ -d /run/systemd/system ]; }

# 8 fds per call (media socket, provider connections, WAV + journal, spare) + 1024 for the process.
nofile_limit() {
  local n=$((MAX_CALLS * 8 + 1024))
  [ "$n" -lt 8192 ] && n=8192
  printf '%s' "$n"
}

detect_pkg_manager() {
  if [ -n "$PKG_MANAGER" ]; then printf '%s' "$PKG_MANAGER"; return; fi
  if have apt-get; then printf apt
  elif have zypper; then printf zypper
  elif have dnf; then printf dnf
  elif have yum; then printf dnf
  else printf none
  fi
}

install_packages() {
  local pm
  pm="$(detect_pkg_manager)"
  say "system packages for the embedded speech stack (package manager: $pm)"
  case "$pm" in
    apt)
      # python3, make, g++: npm ci builds native/rtp-io (batched RTP I/O) with node-gyp.
      run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends flite libpocketsphinx3 pocketsphinx-en-us python3 make g++
      ;;
    zypper)
      # openSUSE/ViciBox: flite is packaged; a pocketsphinx 5 library usually is not.
      say "zypper: installing 'flite' (embedded TTS)"
      run zypper --non-interactive install --no-recommends flite
      if zypper --non-interactive info libpocketsphinx3 >/dev/null 2>&1; then
        run zypper --non-interactive install --no-recommends libpocketsphinx3 pocketsphinx-en-us
      else
        warn "zypper: no libpocketsphinx3 package in the configured repositories: the embedded STT cannot run here."
        warn "  Configure a cloud STT provider (providers.stt: deepgram) or build pocketsphinx 5 from source into /usr/local/lib."
      fi
      ;;
    dnf)
      # Alma/Rocky/CentOS: flite comes from EPEL; pocketsphinx 5 is not packaged for EL.
      say "dnf: installing 'flite' (from EPEL: dnf install epel-release first if it is not enabled)"
      run dnf install -y flite
      warn "dnf: no pocketsphinx 5 package for EL: the embedded STT cannot run here."
      warn "  Configure a cloud STT provider (providers.stt: deepgram) or build pocketsphinx 5 from source into /usr/local/lib."
      ;;
    none)
      warn "no supported package manager (apt, zypper, dnf) found: install flite and libpocketsphinx (5.x) with its"
      warn "  en-us model yourself, or configure cloud STT/TTS providers instead of the embedded ones."
      ;;
    *) die "unknown --pkg-manager: $pm (apt|zypper|dnf|none)" ;;
  esac
}

check_node() {
  local v major
  have node || die "Node.js >= 20 is required and 'node' is not on PATH: install Node 20 or newer (distribution or NodeSource packages), then re-run"
  v="$(node -p 'process.versions.node')"
  major="${v%%.*}"
  [ "$major" -ge 20 ] || die "Node.js >= 20 is required, found $v: upgrade Node, then re-run"
  say "node $v at $(command -v node)"
}

create_user() {
  if in_root; then say "skipping system user '$APP_USER' (--root)"; return; fi
  if id -u "$APP_USER" >/dev/null 2>&1; then
    say "system user '$APP_USER' exists"
  else
    local nologin
    nologin="$(command -v nologin || echo /sbin/nologin)"
    run useradd --system --user-group --home-dir /var/lib/ai-bridge --no-create-home --shell "$nologin" "$APP_USER"
  fi
}

# chown only where the user exists (not in a throw-away root).
owned_dir() {
  local mode="$1" owner="$2" dir="$3"
  if in_root; then run install -d -m "$mode" "$dir"; else run install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"; fi
}

install_app() {
  say "application -> $APP_DIR"
  run install -d -m 0755 "$APP_DIR"
  local item
  for item in bin src native campaigns scripts package.json package-lock.json tsconfig.json; do
    if [ -e "$SRC_DIR/$item" ]; then
      run rm -rf "${APP_DIR:?}/$item"
      run cp -R "$SRC_DIR/$item" "$APP_DIR/$item"
    fi
  done
  # node-gyp builds the addon against this Node's own headers when it has them (no download).
  local nodedir
  nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [ -f "$nodedir/include/node/node_api.h" ]; then export npm_config_nodedir="$nodedir"; fi
  if in_root && [ "$WITH_NPM" = 0 ]; then
    say "skipping npm ci (--root without --with-npm)"
  elif [ -e "$SRC_DIR/package-lock.json" ]; then
    run npm ci --omit=dev --no-audit --no-fund --prefix "$APP_DIR"
  else
    run npm install --omit=dev --no-audit --no-fund --prefix "$APP_DIR"
  fi
}

make_dirs() {
  owned_dir 0750 "$APP_USER:$APP_USER" "$DATA_DIR"
  owned_dir 0750 "$APP_USER:$APP_USER" "$DATA_DIR/records"
  owned_dir 0750 "$APP_USER:$APP_USER" "$DATA_DIR/queue"
  owned_dir 0750 "root:$APP_USER" "$CONF_DIR"
}

random_password() {
  # 24 hex characters from the kernel's CSPRNG; no openssl needed.
  od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

write_config() {
  if [ -e "$CONF_FILE" ]; then
    say "config $CONF_FILE exists: kept as is"
    return
  fi
  if [ "$DRY_RUN" = 1 ]; then
    printf '[dry-run] write %s (mode 0640, root:%s) with a generated ARI/ESL password\n' "$CONF_FILE" "$APP_USER"
    return
  fi
  local pw tmp
  pw="$(random_password)"
  tmp="$(mktemp)"
  cat >"$tmp" <<EOF
# ai-bridge configuration. Secrets can also come from the environment:
# AI_BRIDGE__ASTERISK__PASSWORD=... (double underscore = nesting).
log:
  level: info
  redactPhoneNumbers: true

# Asterisk ARI: put the same user/password in /etc/asterisk/ari.conf:
#   [ai-bridge]
#   type = user
#   read_only = no
#   password = <the password below>
asterisk:
  url: http://127.0.0.1:8088
  username: ai-bridge
  password: "${pw}"
  app: ai-agent

# FreeSWITCH instead of Asterisk: remove the asterisk section and uncomment (same password in
# event_socket.conf.xml).
# freeswitch:
#   host: 127.0.0.1
#   port: 8021
#   password: "${pw}"

media:
  bindAddress: 127.0.0.1
  rtpPortMin: 40000
  rtpPortMax: 40999

metrics:
  enabled: true
  host: 127.0.0.1
  port: 9464

records:
  dir: /var/lib/ai-bridge/records
  recordAudio: true
  retentionDays: 90
EOF
  install -m 0640 "$tmp" "$CONF_FILE"
  rm -f "$tmp"
  in_root || chown "root:$APP_USER" "$CONF_FILE"
  say "wrote $CONF_FILE with a generated password (asterisk.password): copy it into ari.conf"
}

install_unit() {
  local node_bin nofile tmp
  node_bin="$(command -v node || echo /usr/bin/node)"
  nofile="$(nofile_limit)"
  say "systemd unit -> $UNIT_FILE (LimitNOFILE=$nofile for $MAX_CALLS calls)"
  run install -d -m 0755 "$UNIT_DIR"
  if [ "$DRY_RUN" = 1 ]; then
    printf '[dry-run] install %s -> %s (node %s, prefix %s)\n' "$SRC_DIR/scripts/ai-bridge.service" "$UNIT_FILE" "$node_bin" "$PREFIX"
  else
    tmp="$(mktemp)"
    sed -e "s#/usr/bin/node #${node_bin} #" \
        -e "s#/opt/ai-bridge#${PREFIX}#g" \
        -e "s#^LimitNOFILE=.*#LimitNOFILE=${nofile}#" \
        "$SRC_DIR/scripts/ai-bridge.service" >"$tmp"
    install -m 0644 "$tmp" "$UNIT_FILE"
    rm -f "$tmp"
  fi
  if has_systemd; then
    run systemctl daemon-reload
    run systemctl enable ai-bridge.service
    if [ "$START" = 1 ]; then run systemctl restart ai-bridge.service; fi
  else
    say "no running systemd here: unit installed but not enabled"
  fi
}

do_install() {
  [ "$(id -u)" = 0 ] || in_root || [ "$DRY_RUN" = 1 ] || die "run as root (or with --dry-run / --root DIR)"
  check_node
  if [ "$SKIP_PACKAGES" = 1 ] || in_root; then say "skipping system packages"; else install_packages; fi
  create_user
  install_app
  make_dirs
  write_config
  install_unit
  say "done. Next: edit $CONF_FILE, then: ${PREFIX}/bin/ai-bridge.js doctor --config /etc/ai-bridge/config.yaml"
  [ "$START" = 1 ] || say "start with: systemctl start ai-bridge"
}

do_uninstall() {
  [ "$(id -u)" = 0 ] || in_root || [ "$DRY_RUN" = 1 ] || die "run as root (or with --dry-run / --root DIR)"
  if has_systemd; then
    run systemctl disable --now ai-bridge.service || true
  fi
  [ -e "$UNIT_FILE" ] && run rm -f "$UNIT_FILE"
  if has_systemd; then run systemctl daemon-reload; fi
  run rm -rf "${APP_DIR:?}"
  if [ "$PURGE" = 1 ]; then
    say "purging call records, queue and config"
    run rm -rf "${DATA_DIR:?}" "${CONF_DIR:?}"
    if ! in_root && id -u "$APP_USER" >/dev/null 2>&1; then run userdel "$APP_USER"; fi
  else
    say "kept call records in $DATA_DIR and config in $CONF_DIR (use --purge to delete them)"
  fi
  say "uninstalled"
}

if [ "$UNINSTALL" = 1 ]; then do_uninstall; else do_install; fi
