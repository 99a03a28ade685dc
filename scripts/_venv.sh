# shellcheck shell=bash
# Shared set-up for scripts/test, scripts/demo and .ci/run: source it, then call `ensure_venv`.
#
# It makes ./.venv with the newest Python >= 3.10 it finds, on PATH or installed by pyenv (or
# $PYTHON), installs the project editable with the extras dev,postgres,redis,memcached, and
# tries the mysql extra on its own:
# mysqlclient compiles against libmariadb-dev/libmysqlclient-dev, which a laptop may lack, and
# the MariaDB tests then skip with a reason instead of the whole set-up failing (not on CI).
# A stamp inside the venv records what it was built from, so an up-to-date venv costs nothing.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
VENV_PY="$VENV/bin/python"
VENV_EXTRAS="dev,postgres,redis,memcached"
# Bump when the set-up steps below change, so existing venvs are refreshed.
VENV_RECIPE=2

_say() {
    if [ -t 2 ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}
_in_ci() { case "${CI:-}" in 1 | true | True | TRUE | yes) return 0 ;; esac; return 1; }

# Prints the interpreter to build the venv with: $PYTHON, else the newest working python3.1x.
pick_python() {
    local candidate
    local probe='import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))'
    if [ -n "${PYTHON:-}" ]; then
        if "$PYTHON" -c "$probe" 2>/dev/null; then
            echo "$PYTHON"
            return 0
        fi
        echo "PYTHON=$PYTHON is not a working Python >= 3.10 with venv and ensurepip" >&2
        return 1
    fi
    # Names that exist on PATH can still be dead ends (pyenv shims of versions not selected),
    # so each candidate is run, not just looked up. pyenv's installed interpreters are tried by
    # full path too (newest patch first), so the newest installed Python wins, selected or not.
    local minor pyenv_root="" found
    if [ -n "${PYENV_ROOT:-}" ]; then
        pyenv_root=$PYENV_ROOT
    elif command -v pyenv >/dev/null 2>&1; then
        pyenv_root=$(pyenv root 2>/dev/null || true)
    fi
    for minor in 19 18 17 16 15 14 13 12 11 10; do
        candidate="python3.$minor"
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$probe" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
        if [ -n "$pyenv_root" ] && [ -d "$pyenv_root/versions" ]; then
            for found in $(ls -d "$pyenv_root"/versions/3."$minor".*/bin/python3."$minor" 2>/dev/null | sort -V -r); do
                if "$found" -c "$probe" 2>/dev/null; then
                    echo "$found"
                    return 0
                fi
            done
        fi
    done
    if command -v python3 >/dev/null 2>&1 && python3 -c "$probe" 2>/dev/null; then
        command -v python3
        return 0
    fi
    echo "No Python >= 3.10 with venv and ensurepip found; install one or set PYTHON=/path/to/python3" >&2
    return 1
}

# What the venv must have been built from: recipe, extras, Python version, pyproject.toml.
_venv_fingerprint() {
    local python_version=$1
    {
        echo "recipe=$VENV_RECIPE extras=$VENV_EXTRAS python=$python_version"
        cat "$REPO_ROOT/pyproject.toml"
    } | sha256sum | cut -d' ' -f1
}

_mysql_headers_present() {
    command -v pkg-config >/dev/null 2>&1 &&
        { pkg-config --exists mysqlclient || pkg-config --exists mariadb || pkg-config --exists libmariadb; }
}

_pip_install() {
    # Quiet on success; the full log is kept for a failure.
    local log="$VENV/pip-install.log"
    if "$VENV_PY" -m pip install --disable-pip-version-check "$@" >"$log" 2>&1; then
        return 0
    fi
    return 1
}

# Creates or refreshes ./.venv; afterwards $VENV_PY runs the project with its dev tools.
# Serialised with a lock, since the test and demo commands may start at the same time.
ensure_venv() {
    local lock
    lock="${TMPDIR:-/tmp}/celery-results-django-venv-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12).lock"
    if command -v flock >/dev/null 2>&1; then
        (
            flock 9
            _ensure_venv_locked
        ) 9>"$lock"
    else
        _ensure_venv_locked
    fi
}

_ensure_venv_locked() {
    local python python_version fingerprint stamp="$VENV/.setup-stamp" stamped="" mysql_state=""
    python=$(pick_python) || return 1
    python_version=$("$python" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
    fingerprint=$(_venv_fingerprint "$python_version")

    if [ -f "$stamp" ]; then
        stamped=$(sed -n 's/^fingerprint=//p' "$stamp")
        mysql_state=$(sed -n 's/^mysql=//p' "$stamp")
    fi
    if [ "$stamped" = "$fingerprint" ] && "$VENV_PY" -c '' 2>/dev/null; then
        if [ "$mysql_state" = ok ] || ! _mysql_headers_present; then
            [ "$mysql_state" = ok ] || _warn_mysql_missing
            return 0
        fi
        # The headers appeared since the last attempt: only the mysql extra is retried below.
    fi

    local venv_version=""
    if "$VENV_PY" -c '' 2>/dev/null; then
        venv_version=$("$VENV_PY" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
    fi
    if [ "$venv_version" != "$python_version" ]; then
        if [ -n "$venv_version" ]; then
            _say "Recreating .venv (Python $venv_version -> $python_version)"
        else
            _say "Creating .venv with $python (Python $python_version)"
        fi
        rm -rf "$VENV"
        "$python" -m venv "$VENV" || return 1
    fi

    if [ "$stamped" != "$fingerprint" ]; then
        _say "Installing celery-results-django[$VENV_EXTRAS] into .venv (editable)"
        if ! _pip_install -e "$REPO_ROOT[$VENV_EXTRAS]"; then
            tail -n 40 "$VENV/pip-install.log" >&2
            echo "pip install failed; full log: $VENV/pip-install.log" >&2
            return 1
        fi
    fi

    _say "Installing the mysql extra (mysqlclient)"
    if _pip_install -e "$REPO_ROOT[mysql]"; then
        mysql_state=ok
    else
        mysql_state=missing
        cp "$VENV/pip-install.log" "$VENV/pip-install-mysql.log"
        if _in_ci; then
            tail -n 40 "$VENV/pip-install-mysql.log" >&2
            echo "CI: mysqlclient failed to build; the MariaDB tests cannot be skipped on CI." >&2
            return 1
        fi
        _warn_mysql_missing
    fi
    printf 'fingerprint=%s\nmysql=%s\n' "$fingerprint" "$mysql_state" >"$stamp"
}

_warn_mysql_missing() {
    cat >&2 <<MSG
NOTE: mysqlclient is not installed in .venv (its build needs the MySQL/MariaDB client headers and
      pkg-config, e.g. 'apt-get install libmariadb-dev pkg-config'; log: .venv/pip-install-mysql.log).
      The MariaDB tests will be skipped; everything else runs.
MSG
}
