//! Mounts the player app on the page's body. (No panic hook: its message
//! formatting cost 1.3 KB of the player's 120 KB budget; a panic shows in
//! the console as `unreachable`, with its wasm stack.)

fn main() {
    leptos::mount::mount_to_body(client::App);
}
