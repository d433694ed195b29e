package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

type schemaBase struct {
	Created time.Time `json:"created"`
	Hidden  string    `json:"-"`
	private int
}

type schemaThing struct {
	schemaBase
	ID      uuid.UUID       `json:"id"`
	Name    string          `json:"name"`
	Note    string          `json:"note,omitempty"`
	Parent  *schemaThing    `json:"parent"`
	Tags    []string        `json:"tags"`
	Counts  map[string]int  `json:"counts,omitempty"`
	Raw     json.RawMessage `json:"raw"`
	Size    int64           `json:"size,string"`
	Untyped any             `json:"untyped"`
	Digest  [2]byte         `json:"digest"`
	Blob    []byte          `json:"blob"`
}

func TestSchemaFollowsEncodingJSON(t *testing.T) {
	s := newSchemas()
	ref := s.of(reflect.TypeFor[schemaThing]())
	if ref["$ref"] != "#/components/schemas/SchemaThing" {
		t.Fatalf("named struct: %v", ref)
	}
	obj := s.defs["SchemaThing"]
	props := obj["properties"].(map[string]any)
	want := map[string]any{
		"created": map[string]any{"type": "string", "format": "date-time"}, // promoted from the embedded struct
		"id":      map[string]any{"type": "string", "format": "uuid"},
		"name":    map[string]any{"type": "string"},
		"note":    map[string]any{"type": "string"},
		"parent":  map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/SchemaThing"}, map[string]any{"type": "null"}}},
		"tags":    map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}},
		"counts":  map[string]any{"type": []any{"object", "null"}, "additionalProperties": map[string]any{"type": "integer", "format": "int64"}},
		"raw":     anyJSON(),
		"size":    map[string]any{"type": "string"},
		"untyped": anyJSON(),
		"digest":  map[string]any{"type": "array", "items": map[string]any{"type": "integer", "format": "int64", "minimum": 0}, "minItems": 2, "maxItems": 2},
		"blob":    map[string]any{"type": []any{"string", "null"}, "contentEncoding": "base64"},
	}
	if !reflect.DeepEqual(props, want) {
		got, _ := json.MarshalIndent(props, "", " ")
		t.Errorf("properties:\n%s", got)
	}
	req := obj["required"].([]string)
	for _, name := range []string{"note", "counts", "Hidden", "private"} {
		for _, r := range req {
			if r == name {
				t.Errorf("%s is required", name)
			}
		}
	}
	if len(req) != 10 || obj["additionalProperties"] != false {
		t.Errorf("required %v, additionalProperties %v", req, obj["additionalProperties"])
	}

	// The same type as a request body: its own component, nothing required.
	in := s.forRequests().of(reflect.TypeFor[schemaThing]())
	if in["$ref"] != "#/components/schemas/SchemaThingInput" {
		t.Fatalf("request body: %v", in)
	}
	if _, ok := s.defs["SchemaThingInput"]["required"]; ok {
		t.Errorf("request body has required fields: %v", s.defs["SchemaThingInput"])
	}
}

type Error struct{ Code string } // collides with the error envelope's name

func TestSchemaNamesDoNotCollide(t *testing.T) {
	s := newSchemas()
	if ref := s.of(reflect.TypeFor[Error]())["$ref"]; ref != "#/components/schemas/ApiError" {
		t.Errorf("a type named Error is %v; the envelope keeps Error", ref)
	}
}
