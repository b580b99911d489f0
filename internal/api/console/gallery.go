package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/images"
)

// Gallery is the image gallery the gallery routes use (gallery.Store).
type Gallery interface {
	List(ctx context.Context, f gallery.Filter) (gallery.Page, error)
	Get(ctx context.Context, id, userID int64) (gallery.Image, error)
	SetFavourite(ctx context.Context, id, userID int64, fav bool) (gallery.Image, error)
	Delete(ctx context.Context, ids []int64, userID int64) ([]gallery.Image, error)
	Models(ctx context.Context, userID int64) ([]string, error)
	Export(ctx context.Context, w io.Writer, f gallery.Filter) error
	Import(ctx context.Context, userID int64, ra io.ReaderAt, size int64, lim gallery.ImportLimits) (gallery.ImportResult, error)
}

// GalleryDeps is what the gallery slice needs.
type GalleryDeps struct {
	Gallery Gallery
	Files   images.Store // where the images and thumbnails are
	// Import bounds what an import accepts (zero: gallery's defaults);
	// SpoolDir is where an uploaded archive is kept while it is read
	// ("": the system's temporary directory).
	Import   gallery.ImportLimits
	SpoolDir string
}

// MountGallery adds the gallery routes: each user's own images under
// /api/v1/me/gallery, everyone's for admins under /api/v1/admin/gallery.
func MountGallery(a *API, d GalleryDeps) {
	a.Add(
		Route{Method: "GET", Path: "/api/v1/me/gallery", Access: User, Handle: d.myList},
		Route{Method: "GET", Path: "/api/v1/me/gallery/models", Access: User, Handle: d.myModels},
		Route{Method: "GET", Path: "/api/v1/me/gallery/export.zip", Access: User, Raw: d.myExport},
		Route{Method: "POST", Path: "/api/v1/me/gallery/import", Access: User, Handle: d.myImport},
		Route{Method: "POST", Path: "/api/v1/me/gallery/delete", Access: User, Handle: d.myDelete},
		Route{Method: "GET", Path: "/api/v1/me/gallery/{id}", Access: User, Handle: d.myGet},
		Route{Method: "PATCH", Path: "/api/v1/me/gallery/{id}", Access: User, Handle: d.myPatch},
		Route{Method: "GET", Path: "/api/v1/me/gallery/{id}/image", Access: User, Raw: d.myImage},
		Route{Method: "GET", Path: "/api/v1/me/gallery/{id}/thumbnail", Access: User, Raw: d.myThumb},
		Route{Method: "GET", Path: "/api/v1/admin/gallery", Access: Admin, Handle: d.adminList},
		Route{Method: "GET", Path: "/api/v1/admin/gallery/{id}/image", Access: Admin, Raw: d.adminImage},
		Route{Method: "GET", Path: "/api/v1/admin/gallery/{id}/thumbnail", Access: Admin, Raw: d.adminThumb},
	)
}

// GalleryItem is a gallery image as the console shows it.
type GalleryItem struct {
	ID           int64     `json:"id"`
	UserID       int64     `json:"user_id"`
	TaskID       string    `json:"task_id"`
	Prompt       string    `json:"prompt"`
	Model        string    `json:"model"`
	Size         string    `json:"size"`
	Quality      string    `json:"quality"`
	Bytes        int64     `json:"bytes"`
	MIME         string    `json:"mime"`
	Width        int       `json:"width"`
	Height       int       `json:"height"`
	Favourite    bool      `json:"favourite"`
	CreatedAt    time.Time `json:"created_at"`
	ImageURL     string    `json:"image_url"`
	ThumbnailURL *string   `json:"thumbnail_url"`
	ThumbState   string    `json:"thumbnail_state"`
}

func galleryItem(im *gallery.Image, admin bool) GalleryItem {
	base := "/api/v1/me/gallery/"
	if admin {
		base = "/api/v1/admin/gallery/"
	}
	base += strconv.FormatInt(im.ID, 10)
	it := GalleryItem{ID: im.ID, UserID: im.UserID, TaskID: im.TaskID, Prompt: im.Prompt, Model: im.Model, Size: im.Size,
		Quality: im.Quality, Bytes: im.Bytes, MIME: im.MIME, Width: im.Width, Height: im.Height, Favourite: im.Favourite,
		CreatedAt: im.CreatedAt.UTC(), ImageURL: base + "/image", ThumbState: im.ThumbState}
	if im.ThumbState == gallery.ThumbReady {
		u := base + "/thumbnail"
		it.ThumbnailURL = &u
	}
	return it
}

const maxGalleryQuery = 200

// galleryFilter reads the gallery filters; an admin's (userID 0) take
// user_id too.
func galleryFilter(r *http.Request, userID int64) (gallery.Filter, error) {
	q := r.URL.Query()
	f := gallery.Filter{UserID: userID, Model: q.Get("model"), Size: q.Get("size"), Query: q.Get("q")}
	if len([]rune(f.Query)) > maxGalleryQuery {
		return f, Invalidf("q", "At most %d characters.", maxGalleryQuery)
	}
	var err error
	if f.Since, f.Until, err = logsTimeRange(r); err != nil {
		return f, err
	}
	switch s := q.Get("favourite"); s {
	case "":
	case "true", "false":
		b := s == "true"
		f.Favourite = &b
	default:
		return f, Invalid("favourite", "Must be true or false.")
	}
	if userID == 0 {
		if f.UserID, err = logsInt(r, "user_id"); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (d GalleryDeps) list(r *http.Request, admin bool, userID int64) (any, error) {
	f, err := galleryFilter(r, userID)
	if err != nil {
		return nil, err
	}
	page, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	f.After, f.Limit = page.Cursor, page.Limit
	p, err := d.Gallery.List(r.Context(), f)
	if errors.Is(err, gallery.ErrBadCursor) {
		return nil, Invalid("cursor", "Not a cursor this API gave out; start from the first page.")
	}
	if err != nil {
		return nil, err
	}
	out := List[GalleryItem]{Items: make([]GalleryItem, 0, len(p.Images))}
	for i := range p.Images {
		out.Items = append(out.Items, galleryItem(&p.Images[i], admin))
	}
	if p.NextCursor != "" {
		out.NextCursor = Cursor(p.NextCursor)
	}
	return out, nil
}

func (d GalleryDeps) myList(r *http.Request, p *Principal) (any, error) {
	return d.list(r, false, p.UserID)
}

func (d GalleryDeps) adminList(r *http.Request, _ *Principal) (any, error) { return d.list(r, true, 0) }

func (d GalleryDeps) myModels(r *http.Request, p *Principal) (any, error) {
	models, err := d.Gallery.Models(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	return map[string][]string{"models": models}, nil
}

func (d GalleryDeps) get(r *http.Request, userID int64) (gallery.Image, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return gallery.Image{}, err
	}
	im, err := d.Gallery.Get(r.Context(), id, userID)
	if errors.Is(err, gallery.ErrNotFound) {
		return im, NotFound("image " + strconv.FormatInt(id, 10))
	}
	return im, err
}

func (d GalleryDeps) myGet(r *http.Request, p *Principal) (any, error) {
	im, err := d.get(r, p.UserID)
	if err != nil {
		return nil, err
	}
	return galleryItem(&im, false), nil
}

// GalleryPatch changes a gallery image.
type GalleryPatch struct {
	Favourite *bool `json:"favourite"`
}

func (d GalleryDeps) myPatch(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body GalleryPatch
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if body.Favourite == nil {
		return nil, Invalid("favourite", "Required.")
	}
	im, err := d.Gallery.SetFavourite(r.Context(), id, p.UserID, *body.Favourite)
	if errors.Is(err, gallery.ErrNotFound) {
		return nil, NotFound("image " + strconv.FormatInt(id, 10))
	}
	if err != nil {
		return nil, err
	}
	return galleryItem(&im, false), nil
}

// GalleryDelete names the images to delete.
type GalleryDelete struct {
	IDs []int64 `json:"ids"`
}

// GalleryDeleted lists the images deleted.
type GalleryDeleted struct {
	Deleted []int64 `json:"deleted"`
}

func (d GalleryDeps) myDelete(r *http.Request, p *Principal) (any, error) {
	var body GalleryDelete
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if len(body.IDs) == 0 || len(body.IDs) > gallery.MaxDelete {
		return nil, Invalidf("ids", "Between 1 and %d image ids.", gallery.MaxDelete)
	}
	for i, id := range body.IDs {
		if id <= 0 {
			return nil, Invalid("ids["+strconv.Itoa(i)+"]", "Must be a positive integer.")
		}
	}
	gone, err := d.Gallery.Delete(r.Context(), body.IDs, p.UserID)
	if err != nil {
		return nil, err
	}
	out := GalleryDeleted{Deleted: make([]int64, 0, len(gone))}
	for _, im := range gone {
		out.Deleted = append(out.Deleted, im.ID)
	}
	if len(out.Deleted) > 0 {
		Audit(r, "gallery.delete", "gallery", nil, map[string]any{"ids": out.Deleted})
	}
	return out, nil
}

// serve streams image im's object (or its thumbnail) from storage.
func (d GalleryDeps) serve(w http.ResponseWriter, r *http.Request, userID int64, thumb bool) error {
	im, err := d.get(r, userID)
	if err != nil {
		return err
	}
	key := im.Key
	if thumb {
		if im.ThumbState != gallery.ThumbReady || im.ThumbKey == "" {
			return NotFound("thumbnail of image " + strconv.FormatInt(im.ID, 10))
		}
		key = im.ThumbKey
	}
	if d.Files == nil {
		return NotFound("image " + strconv.FormatInt(im.ID, 10))
	}
	rc, info, err := d.Files.Open(r.Context(), key)
	if errors.Is(err, images.ErrNotFound) {
		return NotFound("image " + strconv.FormatInt(im.ID, 10))
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	ctype := info.ContentType
	if ctype == "" {
		ctype = im.MIME
	}
	if !safeImageType(ctype) {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	if info.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	// The image never changes under its id: the browser may keep it
	// (privately: it is one user's).
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if r.URL.Query().Get("download") == "1" {
		h.Set("Content-Disposition", `attachment; filename="image-`+strconv.FormatInt(im.ID, 10)+extFor(ctype)+`"`)
	}
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rc)
	return err
}

func safeImageType(ct string) bool {
	switch ct {
	case "image/png", "image/jpeg", "image/webp", "image/gif":
		return true
	}
	return false
}

func extFor(ct string) string {
	switch ct {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ".bin"
}

func (d GalleryDeps) myImage(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return d.serve(w, r, p.UserID, false)
}

func (d GalleryDeps) myThumb(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return d.serve(w, r, p.UserID, true)
}

func (d GalleryDeps) adminImage(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	return d.serve(w, r, 0, false)
}

func (d GalleryDeps) adminThumb(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	return d.serve(w, r, 0, true)
}

// myExport streams the caller's images (those the filters select) as a
// ZIP: metadata.ndjson, then images/<id>.<ext>.
func (d GalleryDeps) myExport(w http.ResponseWriter, r *http.Request, p *Principal) error {
	f, err := galleryFilter(r, p.UserID)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="gallery-`+time.Now().UTC().Format("20060102-150405")+`.zip"`)
	w.WriteHeader(http.StatusOK)
	// Past the header an error can only cut the download short, which the
	// client sees as a broken archive.
	_ = d.Gallery.Export(r.Context(), w, f)
	return nil
}

// myImport adds the images of an uploaded export (multipart field
// "file") to the caller's gallery.
func (d GalleryDeps) myImport(r *http.Request, p *Principal) (any, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "Send the archive as multipart/form-data, in the field file."}
	}
	lim := d.Import
	maxBytes := lim.MaxArchiveBytes
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, Invalid("file", "Required: a ZIP exported from a gallery.")
		}
		if err != nil {
			return nil, bodyError(err)
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		spool, err := os.CreateTemp(d.SpoolDir, "upload-gallery-*.zip")
		if err != nil {
			return nil, err
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		n, err := io.Copy(spool, io.LimitReader(part, maxBytes+1))
		if err != nil {
			return nil, bodyError(err)
		}
		if n > maxBytes {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: "The archive is larger than " + strconv.FormatInt(maxBytes, 10) + " bytes."}
		}
		res, err := d.Gallery.Import(r.Context(), p.UserID, spool, n, lim)
		var he *gallery.HostileError
		if errors.As(err, &he) {
			return nil, Invalid("file", "Refused: "+he.Reason+".")
		}
		if err != nil {
			return nil, err
		}
		Audit(r, "gallery.import", "gallery", nil, map[string]any{"imported": res.Imported, "skipped": res.Skipped})
		return res, nil
	}
}

// bodyError is a failed read of the request body: too large (the
// server's upload cap), or cut short.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: "The upload is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes."}
	}
	return &Error{Status: http.StatusBadRequest, Code: "invalid", Message: "The upload could not be read: " + err.Error()}
}
