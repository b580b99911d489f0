// Package gallery keeps the images users made: one row per image kept in
// image storage, whether it came from the console's studio or the API
// (an async task, or a synchronous request answered with URLs), or was
// imported.
//
// # Recording
//
// images.Tasks hands every recorded outcome with stored outputs to the
// gallery's Record (images.Recorder), with the prompt, model, size and
// quality the lead handler knew. From then on the object is the
// gallery's: the image task sweeper asks Kept and leaves it in storage,
// and Delete removes it (and its thumbnail). The storage key is unique,
// so recording a task twice adds nothing.
//
// # Listing and search
//
// List pages newest first (by id: the order images were added) with a keyset cursor, so a
// page costs the same at any depth; filters are model, size, a creation
// time range, favourite and a prompt substring. The substring search is
// the dialect's trigram index for three characters or more: SQLite's FTS5
// with the trigram tokenizer (an external-content table kept by
// triggers), PostgreSQL's pg_trgm GIN index under ILIKE, MySQL's FULLTEXT
// index with the ngram parser (MariaDB has no ngram parser: there the
// migration skips the index and every search is a LIKE). Shorter queries
// are a LIKE with its wildcards escaped. All match case-insensitively
// (ASCII case, for SQLite's LIKE).
//
// # Thumbnails
//
// A Thumbnailer makes a JPEG of at most ThumbSide pixels a side for each
// pending image in the background: it reads the header first and refuses
// images beyond the decode limits before any pixel memory is allocated,
// then records the width, height and thumbnail key (or failed). Every
// node runs one; two may make the same thumbnail, which is harmless (same
// key, same bytes).
//
// # Archives (archive.go)
//
// Export streams a ZIP to its writer: metadata.ndjson (one MetaLine per
// image) and then images/<id>.<ext>, reading the gallery a page at a
// time. Import takes such a ZIP from a file and checks it whole before it
// stores anything (see Import for the list); a refusal is a
// *HostileError. Imported images get keys of their own
// (gallery/u<user>/i<random>.<ext>) and no task id.
package gallery
