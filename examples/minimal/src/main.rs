//! hot-lib-reloader's minimal example, on hotdev.
//!
//! ```text
//! cargo run -p minimal [-- TICK_MS]                          # reloads lib/ on every save
//! cargo run -p minimal --no-default-features --release       # lib linked in, no reloading
//! ```

use minimal_lib::State;
use minimal_lib::hot::{self, Calls};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tick = std::env::args().nth(1).map_or(Ok(1000), |a| a.parse())?;
    #[cfg(feature = "reload")]
    let (lib, _events) = hotdev::devloop::HotPlugin::<hot::Interface>::watch(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lib"
    ))?;
    #[cfg(not(feature = "reload"))]
    let lib = reloadable::Linked::<hot::Interface>::new();

    let mut state = State { counter: 0 };
    loop {
        // A panic in the library comes back as an error; the loop goes on.
        if let Err(e) = lib.do_stuff(&mut state) {
            eprintln!("{e}");
        }
        std::thread::sleep(std::time::Duration::from_millis(tick));
    }
}
