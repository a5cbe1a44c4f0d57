#!/usr/bin/env bash
# Builds the venvs of tests/test_clients.py (MACE and NequIP on real e3nn and on e3gen) in folder $1
# (default: $E3GEN_CLIENT_VENVS, else ~/.cache/e3gen-client-venvs). Idempotent: a venv whose
# packages are in place is kept; e3gen-clients always gets this checkout reinstalled (editable).
#   mace-ref       torch 2.13.0 + mace-torch 0.3.16 (pulls its pinned e3nn 0.4.4)
#   nequip-ref     torch 2.13.0 + nequip 0.19.1 + e3nn 0.6.0
#   e3gen-clients  torch 2.13.0 + this checkout + mace-torch and nequip without their e3nn (--no-deps)
#                  + their other dependencies
# torch goes in first, alone, so that no client's requirement can swap it for another build.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-${E3GEN_CLIENT_VENVS:-$HOME/.cache/e3gen-client-venvs}}"
mkdir -p "$DEST"
TORCH="torch==2.13.0"
CLIENT_DEPS="ase configargparse GitPython h5py lmdb matplotlib matscipy numpy opt_einsum opt-einsum-fx orjson pandas
prettytable python-hostlist pyYAML torch-ema torchmetrics tqdm hydra-core lightning requests"

make_venv() {  # name, "distributions it must have", packages...
    local name="$1" needs="$2"; shift 2
    local py="$DEST/$name/bin/python"
    if [ -x "$py" ] && "$py" -c "import importlib.metadata as m, sys; [m.version(d) for d in sys.argv[1:]]" $needs >/dev/null 2>&1; then
        echo "clients.sh: $name ready"
        return
    fi
    python3 -m venv "$DEST/$name"
    "$DEST/$name/bin/pip" install -q "$TORCH"
    "$DEST/$name/bin/pip" install -q "$@"
    echo "clients.sh: $name built"
}

make_venv mace-ref "torch mace-torch e3nn" "mace-torch==0.3.16" "$TORCH"
make_venv nequip-ref "torch nequip e3nn" "nequip==0.19.1" "e3nn==0.6.0" "$TORCH"
# shellcheck disable=SC2086
make_venv e3gen-clients "torch lightning hydra-core matscipy torch-ema opt-einsum-fx" $CLIENT_DEPS "$TORCH"
"$DEST/e3gen-clients/bin/pip" install -q --no-deps "mace-torch==0.3.16" "nequip==0.19.1"
"$DEST/e3gen-clients/bin/pip" install -q -e "$REPO" "$TORCH"
if "$DEST/e3gen-clients/bin/python" -c "import e3nn" >/dev/null 2>&1 && [ -z "${E3GEN_AS_E3NN:-}" ]; then
    echo "clients.sh: e3gen-clients has a real e3nn installed; the comparison needs it absent" >&2
    exit 1
fi
echo "clients.sh: venvs in $DEST (export E3GEN_CLIENT_VENVS=$DEST for tests/test_clients.py)"
