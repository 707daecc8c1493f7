//! What every part of the agent works with: the options, the paths, the metadata
//! client and the app.

use std::thread;
use std::time::Duration;

use crate::app::App;
use crate::cli::Options;
use crate::log;
use crate::metadata::MetadataClient;
use crate::paths::Paths;

pub struct Context {
    pub options: Options,
    pub paths: Paths,
    pub metadata: MetadataClient,
    pub app: App,
}

impl Context {
    pub fn new(options: Options) -> Self {
        Self {
            paths: Paths::new(&options),
            metadata: MetadataClient::new(&options.metadata_url, options.metadata_timeout),
            app: App::new(&options.restart_cmd),
            options,
        }
    }

    /// Blocks until setup has finished (the separate systemd units start together).
    pub fn wait_for_setup(&self, component: &str) {
        if self.paths.setup_complete() {
            return;
        }
        log::event(component, "waiting for setup to finish");
        while !self.paths.setup_complete() {
            thread::sleep(Duration::from_millis(500));
        }
    }
}
