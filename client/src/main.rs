//! Mounts the player app on the page's body, with a panic hook that puts
//! the panic's message in the console (without it a panic shows only as
//! `unreachable`).

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(client::App);
}
