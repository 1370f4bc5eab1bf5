//! A `patchwave daemon` a test started, stopped by its pid when the test
//! ends however it ends.

use std::process::Child;
use std::time::{Duration, Instant};

/// The daemon process; dropping it stops it.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    /// SIGTERM first, so the daemon closes its SSH connections; killed
    /// if it has not exited within 20 s.
    fn drop(&mut self) {
        // Already reaped: its pid may belong to another process by now.
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
