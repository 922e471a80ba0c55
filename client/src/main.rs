//! Mounts the player app on the page's body. A panic shows its message in
//! the browser's console instead of `unreachable`.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(client::App);
}
