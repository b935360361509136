//! `supervise [options] -- <run arguments>`: keeps `run` going as a child process, follows the
//! git branch, rebuilds, and restarts the child only on a successful build (crate `supervisor`).

pub use supervisor::SuperviseArgs as Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    supervisor::run_command(args)?;
    Ok(())
}
