//! The SCLP line-mode console's ASCII-to-EBCDIC table, against Python's cp037
//! codec (an implementation that is not ours).
#[path = "../kernel/src/arch/s390x/ebcdic.rs"]
mod ebcdic;

#[test]
fn printable_ascii_is_cp037() {
    let ascii: String = (0x20u8..=0x7e).map(char::from).collect();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; sys.stdout.buffer.write(sys.argv[1].encode('cp037'))",
            &ascii,
        ])
        .output()
        .expect("python3 (apt-get install python3)");
    assert!(out.status.success());
    let ours: Vec<u8> = ascii.bytes().map(ebcdic::from_ascii).collect();
    assert_eq!(ours, out.stdout);
    assert_eq!(
        ebcdic::from_ascii(b'\t'),
        ebcdic::from_ascii(b'?'),
        "not printable: '?'"
    );
}
