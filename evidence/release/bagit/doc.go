// Package bagit writes and verifies BagIt 1.0 bags (RFC 8493), as one
// streamed ZIP or as a directory, with an Ed25519 signature over the tag
// manifests. It is pure Go (no cgo, no database) so that `dems verify`
// runs anywhere; it knows nothing of evidence or releases.
//
// Writing (bounded memory, one pass over each payload byte):
//
//	NewZipWriter / NewDirWriter ──► bagit.txt                 (first, so the bag is recognizable)
//	AddPayload(ctx, path, r)     ──► data/<path>              hashed (SHA-256 and SHA-512, in
//	                                                          parallel goroutines) while streamed
//	AddTagFile(path, bytes)      ──► <path>                   small extra tag files
//	Close()                      ──► bag-info.txt             (Payload-Oxum, Bagging-Date, ...)
//	                                 manifest-sha256.txt, manifest-sha512.txt
//	                                 signing-key.pub          (when signing)
//	                                 tagmanifest-sha256.txt, tagmanifest-sha512.txt
//	                                 signature-ed25519.txt    (when signing)
//
// Manifests can only be written once every payload byte has been hashed,
// so in the ZIP they follow the payload; a ZIP's central directory makes
// the order irrelevant to readers. Only the manifest lines (one per file)
// are kept in memory, never payload.
//
// Signature. signature-ed25519.txt holds one Ed25519 signature per tag
// manifest, over that file's exact bytes, with the signing key's id; the
// key itself is the tag file signing-key.pub (PKIX PEM, what openssl
// reads). The tag manifests list every tag file except themselves (RFC
// 8493 §2.2.1) and except signature-ed25519.txt: a tag manifest cannot
// list the hash of a signature that is computed over the tag manifest
// itself, so the signature file is the one tag file that is not in them.
// Nothing is lost: a signature is self-verifying (change one byte and it
// no longer verifies), and it transitively covers every other byte of the
// bag: signature → tag manifests → bagit.txt, bag-info.txt, manifests,
// signing-key.pub → every payload file.
//
// Verification (Verify) takes a ZIP or a directory and checks, in this
// order, reporting every problem and naming the first exactly (file and
// line): the container (for a ZIP also its bookkeeping: local headers
// agree with the central directory, no bytes outside entries, see
// checkZipLayout); bagit.txt; the syntax of bag-info.txt and every manifest; every
// payload manifest entry exists and matches, every payload file is listed
// in every manifest; Payload-Oxum; every tag manifest entry; the
// signature (with the embedded key, or a key the caller trusts). When one
// manifest disagrees with a file but another manifest agrees, the
// manifest line is what was altered and is named; when none agrees, the
// file is named.
//
// File names in manifests are percent-encoded for CR, LF and '%' only
// (RFC 8493 §2.1.3).
package bagit
