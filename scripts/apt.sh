# Sourced by the scripts that install Debian packages; the caller defines
# say. apt_install PACKAGE…: installs those dpkg does not have (with sudo
# when not root), waiting up to 10 minutes for the dpkg lock so that two
# scripts started together on a fresh machine do not fail on it; it updates
# the package lists only when the first try fails.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} (apt)"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)
  [[ $(id -u) == 0 ]] || apt=(sudo "${apt[@]}")
  "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { "${apt[@]}" update >/dev/null && "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null; }
}
