package codegen

import (
	"strings"
	"testing"
)

func TestGenerateRefusesWhatItCannotRead(t *testing.T) {
	for name, doc := range map[string]string{
		"not 3.1":        `{"openapi":"3.0.3","paths":{}}`,
		"not JSON":       `{"openapi":`,
		"anyOf":          `{"openapi":"3.1.0","paths":{},"components":{"schemas":{"A":{"type":"object","properties":{"x":{"anyOf":[{"type":"string"},{"type":"integer"}]}}}}}}`,
		"foreign $ref":   `{"openapi":"3.1.0","paths":{},"components":{"schemas":{"A":{"type":"object","properties":{"x":{"$ref":"other.json#/A"}}}}}}`,
		"no operationId": `{"openapi":"3.1.0","paths":{"/api/v1/x":{"get":{"responses":{"200":{"description":"ok"}}}}}}`,
		"cookie param":   `{"openapi":"3.1.0","paths":{"/api/v1/x":{"get":{"operationId":"x","parameters":[{"name":"c","in":"cookie","schema":{"type":"string"}}],"responses":{"200":{"description":"ok"}}}}}}`,
	} {
		if _, err := Generate([]byte(doc), "p"); err == nil {
			t.Errorf("%s: generated a client", name)
		}
	}
}

func TestGenerateTypesAndMethods(t *testing.T) {
	doc := `{"openapi":"3.1.0","paths":{"/api/v1/things/{id}":{"put":{"operationId":"putThing","summary":"Replace a thing",
		"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}},{"name":"dry_run","in":"query","schema":{"type":"boolean"}}],
		"requestBody":{"required":true,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/ThingInput"}}}},
		"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Thing"}}}},"default":{"description":"error"}}}}},
		"components":{"schemas":{
		"Thing":{"type":"object","additionalProperties":false,"required":["id","tags","at"],"properties":{"id":{"type":"string","format":"uuid"},"tags":{"type":["array","null"],"items":{"type":"string"}},"at":{"type":"string","format":"date-time"},"note":{"type":["string","null"]},"raw":{"type":["object","array","string","number","boolean","null"]},"parent":{"anyOf":[{"$ref":"#/components/schemas/Thing"},{"type":"null"}]}}},
		"ThingInput":{"type":"object","properties":{"tags":{"type":["array","null"],"items":{"type":"string"}},"n":{"type":"integer","format":"int64"},"when":{"type":"string","format":"date-time"}}}}}}`
	src, err := Generate([]byte(doc), "p")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"type Thing struct",
		"ID     string          `json:\"id\"`",
		"Tags   []string        `json:\"tags\"`",
		"Note   *string         `json:\"note,omitempty\"`",
		"Raw    json.RawMessage `json:\"raw,omitempty\"`",
		"Parent *Thing          `json:\"parent,omitempty\"`",
		"N    int64     `json:\"n,omitempty\"`",
		"Tags []string  `json:\"tags\"`", // an empty list must reach the server
		"When time.Time `json:\"when,omitzero\"`",
		"func (c *Client) PutThing(ctx context.Context, id string, params PutThingParams, body ThingInput) (*Thing, error)",
		`path := "/api/v1/things/" + url.PathEscape(id)`,
		`q.Add("dry_run", strconvBool(params.DryRun))`,
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("generated source lacks %q:\n%s", want, src)
		}
	}
}
