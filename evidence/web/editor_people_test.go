package web

import (
	"testing"

	"github.com/chromedp/chromedp"

	rspec "github.com/opendems/opendems/redact/spec"
)

// TestEditorPeople drives the People panel with real clicks: the two
// detected faces are two people; merging makes one person of both tracks;
// a track split off is a person again; a person is accepted and another
// rejected at once; the saved spec carries the persons and, reloaded, the
// panel groups the regions the same way.
func TestEditorPeople(t *testing.T) {
	env := newEditorEnv(t, landscape)
	ctx := editorBrowser(t, 1440, 1000)
	openEditor(t, ctx, env)
	waitFor(t, ctx, "two people", `opendemsEditor.people.length === 2 && document.querySelectorAll("#ed-people li.ed-person").length === 2`)
	if n := eval[int](t, ctx, `document.querySelectorAll("#ed-people canvas.ed-thumb").length`); n != 2 {
		t.Fatalf("%d thumbnails", n)
	}
	do(t, ctx, "dismiss confirms", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))

	// Merge: tick both, press merge.
	do(t, ctx, "tick person 1", chromedp.Click(chromedp.CSS(`#ed-people input[aria-label="Select Person 1 to merge"]`)))
	if eval[bool](t, ctx, `!document.getElementById("ed-merge").disabled`) {
		t.Fatal("merge is enabled with one person ticked")
	}
	do(t, ctx, "tick person 2", chromedp.Click(chromedp.CSS(`#ed-people input[aria-label="Select Person 2 to merge"]`)))
	do(t, ctx, "merge", chromedp.Click(chromedp.CSS("#ed-merge")))
	waitFor(t, ctx, "one person", `opendemsEditor.people.length === 1 && opendemsEditor.people[0].regions.length === 2 && opendemsEditor.model.spec.regions.every(r => r.person === "person-1")`)
	if txt := eval[string](t, ctx, `document.querySelector("#ed-people li.ed-person .ed-item").textContent`); txt[:len("Person 1 · 2 tracks")] != "Person 1 · 2 tracks" {
		t.Fatalf("merged person reads %q", txt)
	}
	shotTo(t, ctx, "editor-11-people-merged")
	// Undo brings the two back; redo merges again.
	key(t, ctx, "z", chromedp.ModifierCtrl)
	waitFor(t, ctx, "undone", `opendemsEditor.people.length === 2`)
	key(t, ctx, "Z", chromedp.ModifierCtrl, chromedp.ModifierShift)
	waitFor(t, ctx, "redone", `opendemsEditor.people.length === 1`)

	// Split face-2's track off into a new person.
	do(t, ctx, "select face-2", chromedp.Click(chromedp.CSS(`#ed-proposals li:nth-child(2) button.ed-item`)))
	waitFor(t, ctx, "face-2 selected", `opendemsEditor.sel && opendemsEditor.sel.id === "face-2" && !document.getElementById("ed-split").disabled`)
	// (centred first: the toast sits over the bottom of the window)
	do(t, ctx, "split", chromedp.Evaluate[chromedp.Void](`document.getElementById("ed-split").scrollIntoView({block: "center"})`), chromedp.Click(chromedp.CSS("#ed-split")))
	waitFor(t, ctx, "two people again", `opendemsEditor.people.length === 2 && opendemsEditor.model.find("region", "face-2").person === "person-2"`)

	// Accept Person 1 (face-1, the earliest), reject Person 2.
	do(t, ctx, "batch code", chromedp.SetValue(chromedp.CSS("#ed-batch-code"), "b(7)(C)"))
	do(t, ctx, "accept person 1", chromedp.Click(chromedp.CSS(`#ed-people button[aria-label="Accept Person 1"]`)))
	do(t, ctx, "reject person 2", chromedp.Click(chromedp.CSS(`#ed-people button[aria-label="Reject Person 2"]`)))
	waitFor(t, ctx, "reviewed", `opendemsEditor.model.find("region", "face-1").review === "accepted" && opendemsEditor.model.find("region", "face-2").review === "rejected"`)
	shotTo(t, ctx, "editor-12-people")
	do(t, ctx, "save", chromedp.Click(chromedp.CSS("#ed-save")))
	waitFor(t, ctx, "saved", `document.getElementById("ed-banner").textContent.includes("Saved as version 2")`)
	_, spec := env.store.current()
	got := map[string]rspec.Region{}
	for _, r := range spec.Regions {
		got[r.ID] = r
	}
	if got["face-1"].Person != "person-1" || got["face-1"].Review != rspec.ReviewAccepted || got["face-1"].Reason != "b(7)(C)" ||
		got["face-2"].Person != "person-2" || got["face-2"].Review != rspec.ReviewRejected {
		t.Fatalf("stored: face-1 %+v, face-2 %+v", got["face-1"], got["face-2"])
	}

	// Reloaded, the panel groups the regions the same way (a rejected
	// person stays listed, marked rejected).
	openEditor(t, ctx, env)
	waitFor(t, ctx, "grouping after reload", `opendemsEditor.people.map(p => p.key).join() === "person-1,person-2" && document.querySelectorAll("#ed-people li.ed-person")[1].textContent.includes("rejected")`)
}
