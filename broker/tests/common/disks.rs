//! Real file systems that fail under the WAL (mounting needs root, which CI and the
//! development machines have).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A size-limited tmpfs: writes past its size fail with `ENOSPC`.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount(8) runs");
        assert!(
            out.status.success(),
            "this test needs root to mount a size-limited tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// ext4 on a loop device whose backing file sits on a tmpfs smaller than the file system:
/// writes land in the page cache and `fdatasync` fails when the backing store is full, as
/// on a thin-provisioned volume.
pub struct ThinDisk {
    backing: Tmpfs,
    /// Where the ext4 file system is mounted.
    pub mnt: PathBuf,
}

impl ThinDisk {
    pub fn mount(root: &Path, backing_size: &str) -> Self {
        let backing = Tmpfs::mount(&root.join("backing"), backing_size);
        let img = root.join("backing").join("disk.img");
        let mnt = root.join("thin");
        std::fs::create_dir_all(&mnt).unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.output().expect("runs");
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new("truncate").args(["-s", "256M"]).arg(&img));
        // No journal: a failed journal write would turn the file system read-only, which is
        // another failure than the one tested here.
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-O", "^has_journal"])
            .args(["-E", "lazy_itable_init=0,nodiscard"])
            .arg(&img));
        run(Command::new("mount")
            .args(["-o", "loop,errors=continue"])
            .arg(&img)
            .arg(&mnt));
        one_page_requests(&mnt);
        Self { backing, mnt }
    }

    /// Gives the backing store room again (an administrator growing the volume).
    pub fn grow(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.backing.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Limits the loop device under `mnt` to one-page requests. A multi-page request that ran
/// into the full tmpfs was completed without an error although its tail never reached the
/// backing file (seen here: an `O_DIRECT` group commit acknowledged, then read back as
/// zeros; the loop driver appears to treat a short write to its backing file as success).
/// A one-page request either lands whole or fails, as a real thin volume's writes do.
fn one_page_requests(mnt: &Path) {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "SOURCE"])
        .arg(mnt)
        .output()
        .expect("findmnt(8) runs");
    let source = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let name = source
        .strip_prefix("/dev/")
        .unwrap_or_else(|| panic!("{} is not on a loop device: {source:?}", mnt.display()));
    let knob = format!("/sys/block/{name}/queue/max_sectors_kb");
    std::fs::write(&knob, "4").unwrap_or_else(|e| panic!("writing {knob}: {e}"));
}

impl Drop for ThinDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}
