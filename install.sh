#!/usr/bin/env bash
# keygate's installer: builds and installs the keygate binary, then installs
# its git hook. Run it from the repository to protect:
#
#   cd my-project && /path/to/keygate/install.sh
#
# See --help for the other modes (--repo, --global, --server, --uninstall).
#
# The installed hooks are copies of hooks/<name> from this checkout with the
# binary's absolute path baked in: they do not need this checkout, nor
# keygate on PATH, once installed. Every hook this script writes carries the
# marker line below, which is how it tells its own hooks from anyone else's:
# a hook that is not ours is never overwritten; it is kept as
# <name>.keygate-previous and runs before keygate.

set -euo pipefail

readonly MARKER='# keygate-managed-hook'
# Hooks the --global directory forwards to each repository's own hook (git
# runs only the hooks in core.hooksPath once it is set). Not forwarded, since
# their mere presence changes what git does or costs: push-to-checkout,
# reference-transaction, post-index-change, proc-receive, fsmonitor-watchman.
readonly FORWARDED_HOOKS='applypatch-msg pre-applypatch post-applypatch pre-merge-commit
prepare-commit-msg commit-msg post-commit pre-rebase post-checkout post-merge pre-push
post-rewrite pre-auto-gc sendemail-validate pre-receive update post-receive post-update'

usage() {
    cat <<'EOF'
install.sh: install keygate, which stops AWS credentials from entering git history.

Usage:
  install.sh [--repo PATH] [--pre-push] [--prefix DIR]   binary + commit hooks in a repository
  install.sh --global [--pre-push] [--prefix DIR]        binary + commit hooks for every repository
  install.sh --server BARE_REPO [--prefix DIR]           binary + pre-receive hook in a bare repository
  install.sh --no-hook [--prefix DIR]                    binary only
  install.sh --static ...                                 any of the above, with a static binary
  install.sh --uninstall [--repo PATH | --global | --server BARE_REPO]

The binary: built with `cargo build --release --locked` from this checkout and
copied to ~/.cargo/bin/keygate ($CARGO_HOME/bin, or DIR/bin with --prefix DIR).
With KEYGATE_BIN=/path/to/keygate set, that binary is used where it is (no
build, nothing copied).

The hooks: pre-commit (the staged changes) and commit-msg (the commit message),
installed where git looks for hooks (`git rev-parse --git-path hooks`, so
core.hooksPath is honoured), calling the binary by its absolute path. A hook
already there is kept as <hook>.keygate-previous and still runs, before keygate;
running install.sh again updates keygate's hooks and keeps the kept ones.

Options:
  --repo PATH       the repository to protect (default: the one you are in)
  --global          set core.hooksPath in your global git config to
                    ~/.config/keygate/hooks, whose pre-commit and commit-msg
                    run keygate, and
                    whose hooks still run each repository's own .git/hooks/<hook>.
                    If a global core.hooksPath is already set, keygate's hook is
                    added to that directory instead.
  --server PATH     install the pre-receive hook into the bare repository PATH, and
                    turn on receive.advertisePushOptions there (for the bypass,
                    `git push -o keygate.bypass=...`). Run as root for a repository
                    another user owns (the server's user: git, www-data, ...):
                    git runs there as that user, and when that user cannot run
                    the binary (root's ~/.cargo/bin is mode 0700), a copy goes
                    to DIR/bin (--prefix, default /usr/local) so that it can.
  --pre-push        also install the pre-push hook (checks the commits a push
                    sends, e.g. ones made with --no-verify); once installed,
                    later runs keep it up to date until --uninstall
  --prefix DIR      install the binary as DIR/bin/keygate
  --no-hook         install the binary, no hook
  --static          build a fully statically linked Linux binary (crt-static on
                    the gnu target; musl is static anyway): it runs where
                    nothing else is installed (a pre-receive environment, a chroot)
  --uninstall       remove keygate's hooks and put back the hooks kept; with
                    --global, also unset core.hooksPath if it is keygate's.
                    The binary is left in place.
  -h, --help        this help

Run outside a git repository (and without --repo, --global, --server), or from
keygate's own checkout without --repo, it installs the binary and no hook.
EOF
}

say() { printf 'keygate install: %s\n' "$*"; }
note() { printf '  %s\n' "$*"; }
die() {
    printf 'keygate install: error: %s\n' "$*" >&2
    exit 1
}

# --- arguments -----------------------------------------------------------------

mode=''
target=''
prefix=''
uninstall=no
repo_explicit=no
pre_push=no
static=no

set_mode() {
    if [[ -n $mode && $mode != "$1" ]]; then
        die "--$mode and --$1 cannot be combined (see --help)"
    fi
    mode=$1
}

while (($#)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --repo | --server | --prefix)
        (($# >= 2)) || die "$1 needs a value (see --help)"
        opt=${1#--}
        value=$2
        shift 2
        ;;
    --repo=* | --server=* | --prefix=*)
        opt=${1%%=*}
        opt=${opt#--}
        value=${1#*=}
        shift
        ;;
    --global | --no-hook)
        set_mode "${1#--}"
        shift
        continue
        ;;
    --uninstall)
        uninstall=yes
        shift
        continue
        ;;
    --pre-push)
        pre_push=yes
        shift
        continue
        ;;
    --static)
        static=yes
        shift
        continue
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    [[ -n $value ]] || die "--$opt needs a non-empty value"
    case $opt in
    repo)
        set_mode repo
        target=$value
        repo_explicit=yes
        ;;
    server)
        set_mode server
        target=$value
        ;;
    prefix) prefix=$value ;;
    esac
done

if [[ $uninstall == yes && $mode == no-hook ]]; then
    die "--uninstall and --no-hook cannot be combined"
fi
if [[ $pre_push == yes && ($uninstall == yes || $mode == server || $mode == no-hook) ]]; then
    die "--pre-push goes with a repository or --global install (--uninstall removes it anyway)"
fi

src_dir=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
start_dir=$PWD
# The repository is the one found from the directory (or --repo, --server).
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_COMMON_DIR GIT_OBJECT_DIRECTORY

# --- helpers -------------------------------------------------------------------

# Quotes $1 for sh.
sh_quote() {
    local q="'"
    printf "'%s'" "${1//$q/$q\\$q$q}"
}

# Absolute, physical path of directory $1.
abs_dir() {
    (cd -P -- "$1" && pwd -P)
}

# True when $1 is a hook this script wrote.
is_ours() {
    [[ -f $1 ]] && grep -qxF -- "$MARKER" "$1"
}

exists() {
    [[ -e $1 || -L $1 ]]
}

# True when $1 is keygate's own pre-push hook (not a --global forwarder).
is_our_pre_push() {
    is_our_hook "$1" pre-push
}

# True when $1 is keygate's own hook $2 (not a --global forwarder).
is_our_hook() {
    is_ours "$1" && grep -qxF -- "keygate_hook=$2" "$1"
}

# Writes stdin to $1 atomically, executable.
write_executable() {
    local dest=$1 tmp
    tmp=$(mktemp "$(dirname -- "$dest")/.keygate-tmp.XXXXXX")
    if ! { cat >"$tmp" && chmod 755 "$tmp" && mv -f -- "$tmp" "$dest"; }; then
        rm -f -- "$tmp"
        die "cannot write $dest"
    fi
}

# Prints hooks/$1 with the binary path $2 and keygate_repo_hooks=$3 baked in.
render_hook() {
    local name=$1 bin=$2 repo_hooks=$3 template="$src_dir/hooks/$1" line seen=0
    [[ -f $template ]] || die "missing $template: run install.sh from a complete keygate checkout"
    while IFS= read -r line || [[ -n $line ]]; do
        case $line in
        "$MARKER")
            printf '%s\n' "$line"
            printf '# Installed by keygate install.sh from %s.\n' "$src_dir"
            printf '# Remove with: install.sh --uninstall (it puts back the hook it kept).\n'
            ;;
        keygate_bin=*)
            printf 'keygate_bin=%s\n' "$(sh_quote "$bin")"
            seen=$((seen + 1))
            ;;
        keygate_repo_hooks=*)
            printf 'keygate_repo_hooks=%s\n' "$repo_hooks"
            seen=$((seen + 1))
            ;;
        *) printf '%s\n' "$line" ;;
        esac
    done <"$template"
    ((seen == 2)) || die "$template lacks its keygate_bin= or keygate_repo_hooks= line"
}

# Prints a --global forwarder: runs the repository's own hook $1, if any.
render_forwarder() {
    cat <<EOF
#!/bin/sh
$MARKER
# Installed by keygate install.sh --global. core.hooksPath makes git run the
# hooks in this directory instead of each repository's .git/hooks: this one
# runs the repository's own $1 hook, when it has one, so it keeps working.
# Remove with: install.sh --global --uninstall
own=\$(git rev-parse --git-common-dir 2>/dev/null) || {
    echo "keygate: cannot find this repository's own hooks (git rev-parse failed); $1 refused." >&2
    exit 1
}
own="\$own/hooks/$1"
here=\$(cd -P -- "\${0%/*}" 2>/dev/null && pwd -P)
there=\$(cd -P -- "\${own%/*}" 2>/dev/null && pwd -P)
if [ -f "\$own" ] && [ -x "\$own" ] && [ "\$here" != "\$there" ]; then
    exec "\$own" "\$@"
fi
exit 0
EOF
}

# Installs keygate's hook $2 into directory $1, keeping a hook that is there.
install_hook() {
    local dir=$1 name=$2 repo_hooks=$3
    local hook="$dir/$name" previous="$dir/$name.keygate-previous" content
    mkdir -p -- "$dir" || die "cannot create $dir"
    content=$(render_hook "$name" "$bin" "$repo_hooks")
    if exists "$hook" && is_ours "$hook"; then
        printf '%s\n' "$content" | write_executable "$hook"
        say "updated keygate's $name hook: $hook"
    elif exists "$hook"; then
        if exists "$previous"; then
            die "$hook is not keygate's, and $previous (a hook kept by an earlier install) exists too: move one of them away, then run install.sh again"
        fi
        mv -- "$hook" "$previous"
        printf '%s\n' "$content" | write_executable "$hook"
        say "installed keygate's $name hook: $hook"
        note "the hook that was there is kept as $previous"
        if [[ -f $previous && -x $previous && $name == pre-commit ]]; then
            note "and still runs, before keygate (keygate checks last, so it sees what that hook stages)"
        elif [[ -f $previous && -x $previous ]]; then
            note "and still runs, before keygate"
        else
            note "(it is not executable, so git was not running it; it still does not run)"
        fi
        if grep -q 'File generated by pre-commit' "$previous" 2>/dev/null; then
            note "it is the pre-commit framework's hook: \`pre-commit install\` run again later would"
            note "chain to keygate's and run its hooks twice; or add keygate to .pre-commit-config.yaml instead"
        fi
    else
        printf '%s\n' "$content" | write_executable "$hook"
        say "installed keygate's $name hook: $hook"
        if exists "$previous"; then
            note "$previous (kept by an earlier install) runs before keygate"
        fi
    fi
}

# Removes keygate's hook $2 from directory $1 and puts back the kept one.
uninstall_hook() {
    local dir=$1 name=$2
    local hook="$dir/$name" previous="$dir/$name.keygate-previous"
    if exists "$hook" && ! is_ours "$hook"; then
        say "$hook is not keygate's: left alone"
        if exists "$previous"; then
            note "$previous (kept by an earlier install) is left alone too"
        fi
        return 0
    fi
    if exists "$hook"; then
        rm -f -- "$hook"
        say "removed keygate's $name hook: $hook"
    else
        say "no keygate $name hook in $dir"
    fi
    if exists "$previous"; then
        mv -- "$previous" "$hook"
        note "put back the hook it had kept: $hook"
    fi
}

# The user running this script.
me=$(id -un 2>/dev/null) || me="uid $(id -u)"
# --server: the repository's owner, and the user git runs as there (the
# owner when this script runs as root; empty: this user).
owner=''
git_as=''

# The user owning path $1.
owner_of() {
    stat -c %U -- "$1" 2>/dev/null || stat -f %Su -- "$1" 2>/dev/null
}

# Runs "$@" as user $1 (from root): runuser, setpriv or sudo. Status 125
# when none of them is there.
as_user() {
    local user=$1
    shift
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$user" -- "$@"
    elif command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n -u "$user" -- "$@"
    else
        return 125
    fi
}

# git, as the user it runs as in the repository (see git_as).
repo_git() {
    if [[ -n $git_as ]]; then
        as_user "$git_as" git "$@"
    else
        git "$@"
    fi
}

# True when the repository's owner can run the binary $1: tried as that user
# from root, else judged from the permission bits (others' x on every
# directory on the way and on the file).
owner_can_run() {
    [[ -z $owner || $owner == "$me" ]] && return 0
    local status=0
    if [[ $(id -u) == 0 ]]; then
        as_user "$owner" "$1" --version >/dev/null 2>&1 || status=$?
        [[ $status != 125 ]] && return "$status"
    fi
    local path=$1 mode
    while :; do
        mode=$(stat -L -c %A -- "$path" 2>/dev/null) || return 1
        [[ ${mode:9:1} == [xt] ]] || return 1
        [[ $path == / || $path != */* ]] && return 0
        path=${path%/*}
        [[ -n $path ]] || path=/
    done
}

# --server: checks the bare repository $1, without hiding git's own errors;
# sets owner and git_as.
check_server_repo() {
    local dir=$1 out bare
    owner=$(owner_of "$dir") || owner=''
    if [[ $(id -u) == 0 && -n $owner && $owner != "$me" ]]; then
        if bare=$(as_user "$owner" git -C "$dir" rev-parse --is-bare-repository 2>&1); then
            git_as=$owner
            [[ $bare == true ]] || die "--server $target is not a bare git repository"
            note "$dir is owned by $owner: git runs there as $owner"
            return 0
        fi
    fi
    if out=$(git -C "$dir" rev-parse --is-bare-repository 2>&1); then
        [[ $out == true ]] || die "--server $target is not a bare git repository"
    elif [[ $out == *safe.directory* ]]; then
        die "git refuses to work in $dir: it is owned by ${owner:-another user}, not by you ($me) (git's safe.directory check). git said:
$out
Fix: run install.sh as ${owner:-its owner} (sudo -u ${owner:-OWNER} $src_dir/install.sh --server $dir), or as root, or trust the repository for your user: git config --global --add safe.directory $dir"
    else
        die "--server $target is not a bare git repository; git said: $out"
    fi
}

# --server: makes sure the repository's owner can run $bin, copying it to
# DIR/bin (--prefix, default /usr/local) when it cannot; sets bin.
ensure_owner_can_run() {
    owner_can_run "$bin" && return 0
    local shared_dir=${prefix:-/usr/local}/bin
    [[ $shared_dir == /* ]] || shared_dir="$start_dir/$shared_dir"
    local why="$owner, who owns $server_dir and so runs its hooks, cannot run $bin (a directory on the way is closed to $owner: root's home is, typically)"
    if [[ $bin == "$shared_dir/keygate" ]]; then
        die "$why. Make it reachable for $owner, or pass --prefix DIR with a directory $owner can reach."
    fi
    local tmp
    if ! { mkdir -p -- "$shared_dir" && tmp=$(mktemp "$shared_dir/.keygate-tmp.XXXXXX") &&
        cat -- "$bin" >"$tmp" && chmod 755 "$tmp" && mv -f -- "$tmp" "$shared_dir/keygate"; }; then
        [[ -z ${tmp:-} ]] || rm -f -- "$tmp"
        die "$why, and it cannot be copied to $shared_dir (run install.sh as root, or pass --prefix DIR with a directory you can write and $owner can reach)."
    fi
    bin="$(abs_dir "$shared_dir")/keygate"
    owner_can_run "$bin" ||
        die "$owner, who owns $server_dir, cannot run $bin either: pass --prefix DIR with a directory $owner can reach."
    say "copied the keygate binary to $bin: $owner (who owns $server_dir) could not run it where it was"
}

# Sets hooks_dir to where git looks for the hooks of repository $1 (its top
# directory, or the bare repository's directory): core.hooksPath if set.
find_hooks_dir() {
    local base=$1 path
    path=$(cd -- "$base" && repo_git rev-parse --git-path hooks) || die "cannot find the hooks directory of $base"
    [[ $path == /* ]] || path="$base/$path"
    if [[ -d $path ]]; then
        hooks_dir=$(abs_dir "$path")
    else
        hooks_dir=$path
    fi
}

# Refuses hook directories that a hook manager regenerates.
check_not_managed() {
    local dir=$1
    if [[ -f $dir/husky.sh || ($(basename -- "$dir") == _ && $(basename -- "$(dirname -- "$dir")") == .husky) ]]; then
        die "$dir is husky's hooks directory (core.hooksPath), which husky rewrites and whose hooks find their work by their own file name: add the line \`keygate hook pre-commit\` to .husky/pre-commit instead (or use the pre-commit framework entry in keygate's README)"
    fi
}

# Removes keygate's pre-push hook from directory $1, if it is there.
uninstall_pre_push() {
    if is_ours "$1/pre-push" || exists "$1/pre-push.keygate-previous"; then
        uninstall_hook "$1" pre-push
    fi
}

# Removes keygate's commit-msg hook from directory $1, if it is there (an
# install made before keygate had one has none).
uninstall_commit_msg() {
    if is_ours "$1/commit-msg" || exists "$1/commit-msg.keygate-previous"; then
        uninstall_hook "$1" commit-msg
    fi
}

# Installs (--pre-push) or refreshes (already there) keygate's pre-push hook
# in directory $1; $2 as install_hook's repo_hooks.
maybe_install_pre_push() {
    if [[ $pre_push == yes ]] || is_our_pre_push "$1/pre-push"; then
        install_hook "$1" pre-push "$2"
    fi
}

global_dir_default() {
    printf '%s/keygate/hooks' "${XDG_CONFIG_HOME:-$HOME/.config}"
}

# The global core.hooksPath, ~ expanded (empty when unset).
global_hooks_path() {
    git config --global --path --get core.hooksPath 2>/dev/null || true
}

# True when directory $1 is the hooks directory install.sh --global made.
is_our_global_dir() {
    [[ -n $1 && -f $1/.keygate-global ]]
}

# --- where the hook goes (checked before building anything) -------------------

repo_top=''
server_dir=''
no_hook_reason=''
case $mode in
repo | '')
    repo_arg=${target:-.}
    [[ -d $repo_arg ]] || die "--repo $repo_arg: no such directory"
    if [[ $(cd -- "$repo_arg" && git rev-parse --is-bare-repository 2>/dev/null) == true ]]; then
        die "$repo_arg is a bare repository: use --server $repo_arg for its pre-receive hook"
    fi
    if top=$(cd -- "$repo_arg" && git rev-parse --show-toplevel 2>/dev/null) && [[ -n $top ]]; then
        repo_top=$(abs_dir "$top")
        src_top=$(cd -- "$src_dir" && git rev-parse --show-toplevel 2>/dev/null) || src_top=''
        if [[ $repo_explicit == no && -n $src_top && $(abs_dir "$src_top") == "$repo_top" ]]; then
            repo_top=''
            no_hook_reason="you are in keygate's own checkout ($src_dir), so no hook was installed"
        fi
    elif [[ $repo_explicit == yes ]]; then
        die "--repo $repo_arg is not in a git work tree"
    else
        no_hook_reason="$start_dir is not in a git repository, so no hook was installed"
    fi
    if [[ $uninstall == yes && -z $repo_top ]]; then
        die "${no_hook_reason%%, so*}: nothing to uninstall here (use --repo PATH, --global or --server PATH)"
    fi
    ;;
server)
    [[ -d $target ]] || die "--server $target: no such directory"
    server_dir=$(abs_dir "$target")
    check_server_repo "$server_dir"
    ;;
esac

# --- uninstall -----------------------------------------------------------------

if [[ $uninstall == yes ]]; then
    case $mode in
    global)
        current=$(global_hooks_path)
        if [[ -z $current ]]; then
            say "core.hooksPath is not set in your global git config: no global keygate hook to remove"
        elif is_our_global_dir "$current"; then
            uninstall_hook "$current" pre-commit
            uninstall_commit_msg "$current"
            if is_our_pre_push "$current/pre-push" || exists "$current/pre-push.keygate-previous"; then
                uninstall_hook "$current" pre-push
            fi
            for name in $FORWARDED_HOOKS; do
                if is_ours "$current/$name"; then rm -f -- "$current/$name"; fi
            done
            rm -f -- "$current/.keygate-global"
            rmdir -- "$current" 2>/dev/null || note "left $current in place: it holds files that are not keygate's"
            git config --global --unset core.hooksPath
            say "unset core.hooksPath in your global git config (it was $current):"
            note "repositories run their own .git/hooks again"
        else
            uninstall_hook "$current" pre-commit
            uninstall_commit_msg "$current"
            uninstall_pre_push "$current"
            note "core.hooksPath ($current) is not keygate's: left set"
        fi
        ;;
    server)
        find_hooks_dir "$server_dir"
        uninstall_hook "$hooks_dir" pre-receive
        ;;
    *)
        find_hooks_dir "$repo_top"
        if is_our_global_dir "$hooks_dir"; then
            die "$repo_top uses keygate's global hooks ($hooks_dir): remove them with install.sh --global --uninstall"
        fi
        uninstall_hook "$hooks_dir" pre-commit
        uninstall_commit_msg "$hooks_dir"
        uninstall_pre_push "$hooks_dir"
        ;;
    esac
    say "the keygate binary was left in place"
    exit 0
fi

# --- the binary ----------------------------------------------------------------

if [[ -n ${KEYGATE_BIN:-} ]]; then
    [[ $static == no ]] || die "--static builds the binary: unset KEYGATE_BIN"
    bin=$KEYGATE_BIN
    [[ $bin == /* ]] || bin="$start_dir/$bin"
    [[ -f $bin && -x $bin ]] || die "KEYGATE_BIN=$KEYGATE_BIN is not an executable file"
    bin="$(abs_dir "$(dirname -- "$bin")")/$(basename -- "$bin")"
    say "using the keygate binary at $bin (KEYGATE_BIN: nothing built or copied)"
    if [[ -n $prefix && $mode == server ]]; then
        note "--prefix: used only if the repository's owner cannot run that binary"
    elif [[ -n $prefix ]]; then
        note "--prefix is ignored when KEYGATE_BIN is set"
    fi
else
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust (rustup.rs), or set KEYGATE_BIN to a built keygate binary"
    [[ -f $src_dir/Cargo.toml ]] || die "$src_dir/Cargo.toml not found: run install.sh from a keygate checkout"
    build_args=(--release --locked)
    build_flags=${RUSTFLAGS:-}
    if [[ $static == yes ]]; then
        host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
        case $host in
        *-linux-gnu*) build_flags="${build_flags:+$build_flags }-C target-feature=+crt-static" ;;
        *-linux-musl*) ;;
        *) die "--static: only Linux targets (gnu or musl) link fully statically; this host is ${host:-unknown}" ;;
        esac
        # With --target, RUSTFLAGS reach only the binary, not build scripts.
        build_args+=(--target "$host")
        say "building a static keygate: RUSTFLAGS='$build_flags' cargo build ${build_args[*]} (in $src_dir)"
    else
        say "building keygate: cargo build --release --locked (in $src_dir)"
    fi
    build_env=()
    [[ $static == no ]] || build_env=(env "RUSTFLAGS=$build_flags")
    if ! messages=$(cd -- "$src_dir" && ${build_env[@]+"${build_env[@]}"} cargo build "${build_args[@]}" --message-format=json-render-diagnostics); then
        die "cargo build failed (see above)"
    fi
    built=$(printf '%s\n' "$messages" | sed -n 's/.*"executable":"\([^"]*\/keygate\)".*/\1/p' | tail -n 1)
    [[ -n $built ]] || built="$src_dir/target/release/keygate"
    [[ -x $built ]] || die "cargo build did not produce $built"
    if [[ $static == yes ]]; then
        if command -v ldd >/dev/null 2>&1 && ldd "$built" 2>&1 | grep -q '=>'; then
            die "$built is not static: ldd lists shared libraries: $(ldd "$built" 2>&1 | tr '\n' ' ')"
        fi
        note "static binary: $built, $(wc -c <"$built" | tr -d ' ') bytes"
    fi
    if [[ -n $prefix ]]; then
        bin_dir="$prefix/bin"
    else
        bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"
    fi
    [[ $bin_dir == /* ]] || bin_dir="$start_dir/$bin_dir"
    mkdir -p -- "$bin_dir" || die "cannot create $bin_dir"
    bin_dir=$(abs_dir "$bin_dir")
    bin="$bin_dir/keygate"
    # Copy then rename: a hook running the old binary meanwhile is unaffected.
    write_executable "$bin" <"$built"
    say "installed the keygate binary: $bin"
    case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) note "$bin_dir is not on your PATH: the hooks call keygate by its full path, but add it to PATH to run keygate yourself" ;;
    esac
fi
[[ $bin != *$'\n'* ]] || die "the binary's path contains a newline: $bin"
if [[ $mode == server ]]; then
    ensure_owner_can_run
fi
version=$("$bin" --version 2>&1) || die "$bin --version failed: $version"
[[ $version == keygate\ * ]] || die "$bin does not look like keygate (--version said: $version)"
note "$version"

# --- the hook ------------------------------------------------------------------

case $mode in
no-hook)
    say "no hook installed (--no-hook)"
    ;;
global)
    current=$(global_hooks_path)
    ours=$(global_dir_default)
    if [[ -n $current ]] && ! is_our_global_dir "$current" && [[ $current != "$ours" ]]; then
        check_not_managed "$current"
        say "core.hooksPath is already set in your global git config to $current: adding keygate's hook there"
        install_hook "$current" pre-commit no
        install_hook "$current" commit-msg no
        maybe_install_pre_push "$current" no
    else
        [[ -z $current ]] || ours=$current
        mkdir -p -- "$ours" || die "cannot create $ours"
        ours=$(abs_dir "$ours")
        printf '%s\n' "This directory is keygate's global hooks directory (install.sh --global)." \
            "Remove it with install.sh --global --uninstall." >"$ours/.keygate-global"
        install_hook "$ours" pre-commit yes
        install_hook "$ours" commit-msg yes
        maybe_install_pre_push "$ours" yes
        for name in $FORWARDED_HOOKS; do
            if is_our_pre_push "$ours/$name" || is_our_hook "$ours/$name" commit-msg; then
                continue
            fi
            if exists "$ours/$name" && ! is_ours "$ours/$name"; then
                note "$ours/$name is not keygate's: left alone (it runs instead of each repository's own $name)"
                continue
            fi
            render_forwarder "$name" | write_executable "$ours/$name"
        done
        git config --global core.hooksPath "$ours"
        say "set core.hooksPath in your global git config to $ours:"
        note "every repository's commits now go through keygate; each repository's own"
        note ".git/hooks still run (its pre-commit first, then keygate; commit-msg, pre-push, ...)."
        note "A repository that sets its own core.hooksPath (husky, ...) is not covered: run install.sh in it."
    fi
    ;;
server)
    find_hooks_dir "$server_dir"
    check_not_managed "$hooks_dir"
    install_hook "$hooks_dir" pre-receive no
    if [[ -n $git_as ]]; then
        chown -- "$git_as" "$hooks_dir/pre-receive" 2>/dev/null || true
    fi
    if out=$(cd -- "$server_dir" && repo_git config receive.advertisePushOptions true 2>&1); then
        note "receive.advertisePushOptions is on in $server_dir (for git push -o keygate.bypass=...)"
    else
        note "warning: could not turn on receive.advertisePushOptions in $server_dir: $out"
        note "(without it, pushers cannot bypass with a reason: git push -o fails)"
    fi
    note "server policy (audit log, bypass, inline markers): git config keygate.config FILE; see"
    note "\"Running it on a git server\" in $src_dir/README.md"
    if [[ -n $git_as ]]; then
        probe_ok() { (cd -- "$server_dir" && GIT_DIR=. as_user "$git_as" "$bin" hook pre-receive </dev/null 2>&1); }
    else
        probe_ok() { (cd -- "$server_dir" && GIT_DIR=. "$bin" hook pre-receive </dev/null 2>&1); }
    fi
    if ! probe=$(probe_ok); then
        note "warning: this keygate cannot check pushes yet (keygate hook pre-receive: ${probe//$'\n'/ })."
        note "The hook fails closed: every push to $server_dir is refused until keygate is upgraded,"
        note "or the hook removed with: install.sh --server $server_dir --uninstall"
    fi
    ;;
*)
    if [[ -z $repo_top ]]; then
        say "$no_hook_reason."
        note "To protect a repository: cd into it and run $src_dir/install.sh, or pass --repo PATH."
        note "For all your repositories: install.sh --global."
        exit 0
    fi
    find_hooks_dir "$repo_top"
    if is_our_global_dir "$hooks_dir"; then
        say "$repo_top uses keygate's global hooks ($hooks_dir): it is already protected; nothing installed"
        note "(install.sh --global refreshes them)"
        exit 0
    fi
    check_not_managed "$hooks_dir"
    scope=$(cd -- "$repo_top" && git config --show-scope --get core.hooksPath 2>/dev/null | cut -f1) || scope=''
    install_hook "$hooks_dir" pre-commit no
    install_hook "$hooks_dir" commit-msg no
    maybe_install_pre_push "$hooks_dir" no
    if [[ $scope == global || $scope == system ]]; then
        note "note: core.hooksPath comes from your $scope git config: this hook runs for every repository using $hooks_dir"
    fi
    ;;
esac
