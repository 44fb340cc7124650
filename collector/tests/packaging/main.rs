//! Packaging, one test binary: the Debian packages built by `scripts/package` (lintian, an
//! install into a throwaway root, each unit's commands run there as the package's user, an
//! upgrade that keeps an edited conffile, remove and purge), the collector's OCI image built by
//! `scripts/image` and run with podman, the agent's image (`scripts/image --agent`) run beside a
//! collector it pushes to, and the `healthcheck` subcommands the images use. The first three
//! need root; they package the binaries cargo built for this test run (no release build of
//! their own).

mod agent_image;
mod deb;
mod healthcheck;
mod image;
mod rig;
