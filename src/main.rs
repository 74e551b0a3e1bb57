//! The `backlog-scaler` binary: parses the command line and hands each
//! subcommand to its module under `cli/`. `anyhow` lives here and in `cli/`
//! only; the library reports errors as typed `thiserror` enums.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
