package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
)

// DefaultMaxBody is the JSON body limit when the server sets none
// (Options.MaxJSONBody; a route may lower it with Route.MaxBody).
const DefaultMaxBody = 1 << 20

const bodyLimitKey = "api.body_limit"

// Bind decodes the request's JSON body into v, the one way every route
// reads JSON. It answers (and returns false) on:
//   - a body beyond the limit: 413 too_large;
//   - a Content-Type other than application/json: 415;
//   - malformed JSON, trailing data, an unknown field (a typo is not
//     silently ignored): 400 malformed_json;
//   - a NUL byte in any string (PostgreSQL text cannot hold one, and no
//     legitimate input has one): 400 invalid.
//
// An empty body is a 400 too; routes whose body is optional use
// BindOptional.
func Bind(c *gin.Context, v any) bool { return bind(c, v, false) }

// BindOptional is Bind for routes whose body may be empty (v keeps its
// zero value then).
func BindOptional(c *gin.Context, v any) bool { return bind(c, v, true) }

func bind(c *gin.Context, v any, optional bool) bool {
	if err := decode(c, v, optional); err != nil {
		WriteError(c, err)
		return false
	}
	return true
}

func malformed(msg string) error {
	return &evidence.Error{Kind: evidence.ErrInvalid, Code: "malformed_json", Msg: msg}
}

// decode is Bind without the answer.
func decode(c *gin.Context, v any, optional bool) error {
	limit := int64(DefaultMaxBody)
	if n, ok := c.Get(bodyLimitKey); ok {
		limit = n.(int64)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &evidence.Error{Kind: evidence.ErrTooLarge, Msg: "request body too large"}
		}
		return malformed("cannot read the request body")
	}
	if int64(len(body)) > limit {
		return &evidence.Error{Kind: evidence.ErrTooLarge, Msg: "request body too large"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return malformed("a JSON body is required")
	}
	if ct := c.ContentType(); ct != "application/json" {
		return &evidence.Error{Kind: evidence.ErrUnsupported, Msg: "want Content-Type: application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("malformed JSON: " + err.Error())
	}
	if dec.More() {
		return malformed("malformed JSON: trailing data")
	}
	if path, ok := findNUL(reflect.ValueOf(v), ""); ok {
		return evidence.Invalid(strings.TrimPrefix(path, "."), "contains a NUL byte")
	}
	return nil
}

// findNUL walks a decoded value for a string holding a NUL byte and
// returns where it is.
func findNUL(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return findNUL(v.Elem(), path)
	case reflect.String:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return "", false // []byte and json.RawMessage hold bytes, not text
		}
		for i := 0; i < v.Len(); i++ {
			if p, ok := findNUL(v.Index(i), path+"[]"); ok {
				return p, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if p, ok := findNUL(it.Key(), path+".key"); ok {
				return p, true
			}
			if p, ok := findNUL(it.Value(), path+"."+it.Key().String()); ok {
				return p, true
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			name := t.Field(i).Name
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = tag
			}
			if p, ok := findNUL(v.Field(i), path+"."+name); ok {
				return p, true
			}
		}
	}
	return "", false
}
