package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

// due is a request's deadline as people read it.
func due(r apiclient.Request) string {
	switch {
	case r.Clock.Paused:
		return "paused"
	case r.Clock.Overdue:
		return r.Clock.DueDate + " OVERDUE"
	case r.Clock.DueSoon:
		return r.Clock.DueDate + " due soon"
	}
	return r.Clock.DueDate
}

// requestCmd is `dems request ...`: the records officers' workflow for
// scripting, through the API with a records officer's token.
func requestCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "request", Short: "Public access requests (records officers)"}

	var in struct {
		RequesterName, RequesterType, Contact, Description string
		Place, Incident, Channel                           string
		ReceivedAt, DateFrom, DateTo                       string // flags, parsed by parseTime
	}
	create := &cobra.Command{
		Use: "create", Short: "Record a request received by mail, e-mail, phone or in person; prints its tracking number and the requester's status code (shown once)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := apiclient.Intake{RequesterName: in.RequesterName, RequesterType: in.RequesterType, Contact: in.Contact,
				Description: in.Description, Channel: in.Channel, Place: in.Place, Incident: in.Incident}
			for _, f := range []struct {
				flag, value string
				set         func(time.Time)
			}{
				{"received", in.ReceivedAt, func(t time.Time) { body.ReceivedAt = t }},
				{"from", in.DateFrom, func(t time.Time) { body.DateFrom = &t }},
				{"to", in.DateTo, func(t time.Time) { body.DateTo = &t }},
			} {
				if f.value == "" {
					continue
				}
				t, err := parseTime(f.value)
				if err != nil {
					return fmt.Errorf("--%s: %w", f.flag, err)
				}
				f.set(t)
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.CreateRequest(cmd.Context(), body)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("created %s (%s), due %s\nstatus code for the requester (shown once): %s\n",
					out.Request.TrackingNumber, out.Request.ID, due(out.Request), out.StatusCode)
			})
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&in.RequesterName, "requester", "", "requester's name (required)")
	f.StringVar(&in.RequesterType, "type", "public", "requester type: public, media, subject or attorney")
	f.StringVar(&in.Contact, "contact", "", "e-mail, phone or postal address (required)")
	f.StringVar(&in.Description, "description", "", "what is asked for (required)")
	f.StringVar(&in.Place, "place", "", "place of the incident")
	f.StringVar(&in.Incident, "incident", "", "incident or case number")
	f.StringVar(&in.Channel, "channel", "email", "how it came in: email, mail, phone, in_person, portal, web")
	f.StringVar(&in.ReceivedAt, "received", "", "when it was received (RFC 3339 or YYYY-MM-DD; default now)")
	f.StringVar(&in.DateFrom, "from", "", "footage recorded from (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&in.DateTo, "to", "", "footage recorded until (RFC 3339 or YYYY-MM-DD)")
	cmd.AddCommand(create)

	var open bool
	var states, assignee string
	list := &cobra.Command{
		Use: "list", Short: "The dashboard: requests by due date, overdue first",
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			q := apiclient.ListRequestsParams{Open: open, Assignee: assignee}
			if states != "" {
				q.State = []string{states}
			}
			out, err := api.ListRequests(cmd.Context(), q)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("NUMBER\tSTATE\tDUE\tASSIGNEE\tREQUESTER", func(w *tabwriter.Writer) {
					for _, r := range out.Requests {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s (%s)\n", r.TrackingNumber, r.State, due(r), r.Assignee, r.RequesterName, r.RequesterType)
					}
				})
			})
			return nil
		},
	}
	list.Flags().BoolVar(&open, "open", false, "only requests still awaiting an answer")
	list.Flags().StringVar(&states, "state", "", "only these states (comma separated)")
	list.Flags().StringVar(&assignee, "assignee", "", "only requests assigned to this user")
	cmd.AddCommand(list)

	cmd.AddCommand(&cobra.Command{
		Use: "show ID|NUMBER", Short: "One request: state, clock, clips and withheld items", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.GetRequest(cmd.Context(), id)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				r := apiclient.Request{}
				if out.Request != nil {
					r = *out.Request
				}
				fmt.Printf("%s  %s  due %s\nrequester: %s (%s), via %s, received %s\nassignee: %s\n%s\n",
					r.TrackingNumber, r.State, due(r), r.RequesterName, r.RequesterType, r.Channel, when(&r.ReceivedAt), r.Assignee, r.Description)
				if len(out.Clips) > 0 {
					fmt.Println()
					table("CLIP\tITEM\tIN\tOUT\tSPEC\tREMOVED", func(w *tabwriter.Writer) {
						for _, c := range out.Clips {
							fmt.Fprintf(w, "%s\t%s\t%.3f\t%.3f\tv%d\t%s\n", c.ID, c.EvidenceID, float64(c.InMs)/1000, float64(c.OutMs)/1000, c.SpecVersion, when(c.RemovedAt))
						}
					})
				}
			})
			return nil
		},
	})

	var tr struct {
		Assignee   string
		Exemptions string
		PauseKind  string
		Reason     string
		Note       string
	}
	transition := &cobra.Command{
		Use: "transition ID|NUMBER STATE", Short: "Move a request to another state (the server names the allowed ones when it refuses)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			body := apiclient.TransitionInput{State: args[1], Assignee: tr.Assignee, PauseKind: tr.PauseKind, Reason: tr.Reason, Note: tr.Note}
			if tr.Exemptions != "" {
				body.Exemptions = strings.Split(tr.Exemptions, ",")
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.TransitionRequest(cmd.Context(), id, body)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("%s is %s, due %s\n", out.Request.TrackingNumber, out.Request.State, due(out.Request))
			})
			return nil
		},
	}
	tf := transition.Flags()
	tf.StringVar(&tr.Assignee, "assignee", "", "user to assign (state assigned)")
	tf.StringVar(&tr.Exemptions, "exemptions", "", "exemption codes, comma separated (state denied)")
	tf.StringVar(&tr.PauseKind, "pause", "", "requester or fee (state awaiting_requester)")
	tf.StringVar(&tr.Reason, "reason", "", "why the clock stops (state awaiting_requester)")
	tf.StringVar(&tr.Note, "note", "", "note for the timeline")
	cmd.AddCommand(transition)

	clip := &cobra.Command{Use: "clip", Short: "Footage linked to a request"}
	var inSec, outSec float64
	add := &cobra.Command{
		Use: "add ID|NUMBER EVIDENCE_ID", Short: "Link part of an evidence item (recorded in the item's chain of custody)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resolveRequest(cmd, cl, args[0])
			if err != nil {
				return err
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.AddRequestClip(cmd.Context(), id, apiclient.ClipInput{EvidenceID: args[1], InMs: int64(inSec * 1000), OutMs: int64(outSec * 1000)})
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("linked clip %s: item %s %.3f–%.3f s\n", out.Clip.ID, out.Clip.EvidenceID, float64(out.Clip.InMs)/1000, float64(out.Clip.OutMs)/1000)
			})
			return nil
		},
	}
	add.Flags().Float64Var(&inSec, "in", 0, "first second of the clip")
	add.Flags().Float64Var(&outSec, "out", 0, "last second of the clip (required)")
	clip.AddCommand(add)
	cmd.AddCommand(clip)
	return cmd
}

// resolveRequest accepts a request id or a tracking number.
func resolveRequest(cmd *cobra.Command, cl *client, ref string) (string, error) {
	if !strings.Contains(ref, "-") || len(ref) == 36 {
		return ref, nil
	}
	api, err := cl.api()
	if err != nil {
		return "", err
	}
	out, err := api.ListRequests(cmd.Context(), apiclient.ListRequestsParams{Limit: 1000})
	if err != nil {
		return "", err
	}
	for _, r := range out.Requests {
		if r.TrackingNumber == ref {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no request %s", ref)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 or YYYY-MM-DD, got %q", s)
	}
	return t, nil
}
