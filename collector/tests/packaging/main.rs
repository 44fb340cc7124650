//! Packaging, one test binary: the Debian packages built by `scripts/package` (lintian, an
//! install into a throwaway root, each unit's commands run there as the package's user, an
//! upgrade that keeps an edited conffile, remove and purge) and the collector's OCI image built
//! by `scripts/image` and run with podman, and the `healthcheck` subcommand the image uses. The
//! first two need root; they package the binaries cargo built for this test run (no release
//! build of their own).

mod deb;
mod healthcheck;
mod image;
mod rig;
