# Sourced by the set-up scripts: `apt_ensure PKG...` installs the Debian
# packages that are missing (as root, or through sudo).
apt_ensure() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        printf '==> Debian packages present\n'
        return
    fi
    printf '==> installing Debian packages:%s\n' "$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -q
    # shellcheck disable=SC2086 # the list is meant to split
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
}
