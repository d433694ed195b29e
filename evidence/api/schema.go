package api

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// schemas reflects the Go types routes declare (Route.In, Out, Query) into
// JSON Schema 2020-12, the dialect of OpenAPI 3.1, exactly as
// encoding/json writes and reads them: json tags name the properties; a
// field without omitempty/omitzero is required; a nil pointer, slice or
// map is written as null, so their schemas admit null; time.Time is a
// date-time string, uuid.UUID a uuid string, any other TextMarshaler a
// string, json.RawMessage and interfaces any JSON value; embedded structs
// are flattened as encoding/json promotes their fields. Named struct types
// become components (#/components/schemas/Name) referenced with $ref, so
// a generated client gets one type per Go type.
//
// It is written here rather than taken from a library
// (github.com/invopop/jsonschema) because the document must say what
// encoding/json really writes (nil slices and pointers as null, uuid.UUID
// as a string, not an array of 16 numbers), with component names stable
// across the whole route table; that needs control of exactly these
// rules, which are small.
type schemas struct {
	names map[typeUse]string
	taken map[string]typeUse
	defs  map[string]map[string]any
	// request reflects request bodies: no property is required (a
	// field left out decodes as its zero value; handlers decide what
	// they need). A type also answered in responses gets its own
	// component, named with the suffix Input.
	request bool
}

// typeUse is a type as answered (request false) or as sent.
type typeUse struct {
	t       reflect.Type
	request bool
}

// forRequests is the reflector for request bodies, sharing components.
func (s *schemas) forRequests() *schemas {
	r := *s
	r.request = true
	return &r
}

func newSchemas() *schemas {
	// "Error" is the error envelope every route answers (errorSchema).
	taken := map[string]typeUse{"Error": {t: reflect.TypeFor[ErrorBody]()}}
	return &schemas{names: map[typeUse]string{}, taken: taken, defs: map[string]map[string]any{}}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	uuidType       = reflect.TypeFor[uuid.UUID]()
	rawType        = reflect.TypeFor[json.RawMessage]()
	durationType   = reflect.TypeFor[time.Duration]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
	notIdentifier  = regexp.MustCompile(`[^A-Za-z0-9]+`)
	schemaRefStart = "#/components/schemas/"
)

// of returns the schema of values of t (a $ref for named structs).
func (s *schemas) of(t reflect.Type) map[string]any {
	if t == nil {
		return anyJSON()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case uuidType:
		return map[string]any{"type": "string", "format": "uuid"}
	case rawType:
		return anyJSON()
	case durationType:
		return map[string]any{"type": "integer", "format": "int64", "description": "nanoseconds"}
	}
	if t.Kind() == reflect.Pointer {
		return nullable(s.of(t.Elem()))
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return anyJSON() // writes itself
	}
	if t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Interface:
		return anyJSON()
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(marshalerType) && !t.Elem().Implements(textMarshaler) {
			return map[string]any{"type": []any{"string", "null"}, "contentEncoding": "base64"}
		}
		return map[string]any{"type": []any{"array", "null"}, "items": s.of(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": s.of(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		return map[string]any{"$ref": schemaRefStart + s.name(t)}
	}
	return anyJSON() // channels and functions are not marshalled
}

// anyJSON admits any JSON value, null included, spelled out: an empty
// schema is read by some validators (kin-openapi's) as not admitting null.
func anyJSON() map[string]any {
	return map[string]any{"type": []any{"object", "array", "string", "number", "boolean", "null"}}
}

// name registers a named struct as a component and returns its name: the
// type's own name, or its package's name before it when another package
// has a type of the same name.
func (s *schemas) name(t reflect.Type) string {
	use := typeUse{t, s.request}
	if n, ok := s.names[use]; ok {
		return n
	}
	suffix := ""
	if _, answered := s.names[typeUse{t, false}]; s.request && answered {
		suffix = "Input"
	}
	n := goName(t.Name()) + suffix
	if other, ok := s.taken[n]; ok && other != use {
		pkg := t.PkgPath()
		pkg = pkg[strings.LastIndex(pkg, "/")+1:]
		n = goName(pkg) + n
	}
	s.names[use], s.taken[n] = n, use
	s.defs[n] = nil // placeholder: a recursive type refers to itself
	s.defs[n] = s.object(t)
	return n
}

// goName makes a type name (perhaps a generic instance) an identifier.
func goName(n string) string {
	parts := notIdentifier.Split(n, -1)
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		r := []rune(p)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// object is a struct's schema, its fields as encoding/json sees them.
func (s *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t) {
		ps := s.of(f.typ)
		if f.asString {
			ps = map[string]any{"type": "string"}
		}
		props[f.name] = ps
		if !f.optional && !s.request {
			required = append(required, f.name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// nullable admits null besides what sch admits.
func nullable(sch map[string]any) map[string]any {
	if _, ref := sch["$ref"]; ref {
		return map[string]any{"anyOf": []any{sch, map[string]any{"type": "null"}}}
	}
	switch tp := sch["type"].(type) {
	case string:
		out := map[string]any{}
		for k, v := range sch {
			out[k] = v
		}
		out["type"] = []any{tp, "null"}
		return out
	case []any:
		return sch // slices and maps already admit null
	}
	return map[string]any{"anyOf": []any{sch, map[string]any{"type": "null"}}}
}

type jsonField struct {
	name     string
	typ      reflect.Type
	optional bool
	asString bool
	depth    int
}

// jsonFields lists a struct's JSON fields following encoding/json's rules
// for tags and embedding (a shallower field hides a deeper one of the same
// name; two at the same depth hide each other unless one is tagged).
func jsonFields(t reflect.Type) []jsonField {
	type cand struct {
		jsonField
		tagged bool
	}
	var all []cand
	var walk func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1, seen)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if name == "" {
				name = f.Name
			}
			jf := jsonField{name: name, typ: ft, depth: depth}
			for _, o := range strings.Split(opts, ",") {
				switch o {
				case "omitempty", "omitzero":
					jf.optional = true
				case "string":
					switch ft.Kind() {
					case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64, reflect.String:
						jf.asString = true
					}
				}
			}
			all = append(all, cand{jf, tagged})
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	byName := map[string][]cand{}
	var order []string
	for _, c := range all {
		if _, ok := byName[c.name]; !ok {
			order = append(order, c.name)
		}
		byName[c.name] = append(byName[c.name], c)
	}
	var out []jsonField
	for _, n := range order {
		cs := byName[n]
		best := cs[0]
		ambiguous := false
		for _, c := range cs[1:] {
			switch {
			case c.depth < best.depth, c.depth == best.depth && c.tagged && !best.tagged:
				best, ambiguous = c, false
			case c.depth == best.depth && c.tagged == best.tagged:
				ambiguous = true
			}
		}
		if !ambiguous {
			out = append(out, best.jsonField)
		}
	}
	return out
}

// queryParameters lists the query parameters a struct declares with
// `form` tags (gin's binding names) and the header parameters it declares
// with `header` tags; a field is required when its tag says
// binding:"required".
func (s *schemas) queryParameters(t reflect.Type) []map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []map[string]any
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		in := "query"
		name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
		if h := f.Tag.Get("header"); h != "" {
			in, name = "header", h
		}
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		ps := s.of(ft)
		if ft.Kind() == reflect.Slice { // repeated: ?state=a&state=b
			ps = map[string]any{"type": "array", "items": s.of(ft.Elem())}
		}
		p := map[string]any{"name": name, "in": in, "schema": ps}
		if d := f.Tag.Get("doc"); d != "" {
			p["description"] = d
		}
		if strings.Contains(f.Tag.Get("binding"), "required") {
			p["required"] = true
		}
		out = append(out, p)
	}
	return out
}
