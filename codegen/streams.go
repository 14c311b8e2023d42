package codegen

import (
	"bytes"
	"go/types"
	"strings"
)

// The stream shapes (docs/GENERATOR.md, "Streams"):
//
//	Watch(ctx context.Context, ...) iter.Seq2[T, error]          // server stream
//	Upload(ctx context.Context, ..., in iter.Seq[T]) (..., error) // client stream
//	Chat(ctx context.Context, ..., in iter.Seq[T]) iter.Seq2[U, error]

// iterArgs returns the type arguments of t when t is iter.<name>[...], else nil.
func iterArgs(t types.Type, name string) []types.Type {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != "iter" || n.Obj().Name() != name {
		return nil
	}
	args := make([]types.Type, n.TypeArgs().Len())
	for i := range args {
		args[i] = n.TypeArgs().At(i)
	}
	return args
}

// streamParam takes parameter v, the ith of n, as the caller's stream when it is an
// iterator; it reports whether it did, or why the parameter cannot be one.
func (l *loaded) streamParam(m *method, v *types.Var, i, n int, at func(string, ...any) error) (bool, error) {
	name := displayName(v.Name(), i)
	if iterArgs(v.Type(), "Seq2") != nil {
		return true, at("parameter %s: a caller streams with iter.Seq[T]; iter.Seq2[T, error] is the provider's stream, as the only result", name)
	}
	args := iterArgs(v.Type(), "Seq")
	if args == nil {
		return false, nil
	}
	if i != n-1 {
		return true, at("parameter %s: the stream (iter.Seq) must be the last parameter", name)
	}
	if err := l.cannotTravel(args[0], at, "parameter "+name+": the stream's messages"); err != nil {
		return true, err
	}
	m.In = &param{Name: v.Name(), Type: args[0], Codec: codecOf(args[0])}
	return true, nil
}

// streamResult takes a method's results as the provider's stream when they are one
// iter.Seq2[T, error]; it reports whether it did, or why they cannot be one.
func (l *loaded) streamResult(m *method, res *types.Tuple, at func(string, ...any) error) (bool, error) {
	if res.Len() != 1 {
		return false, nil
	}
	args := iterArgs(res.At(0).Type(), "Seq2")
	if args == nil {
		if iterArgs(res.At(0).Type(), "Seq") != nil {
			return true, at("a provider streams with iter.Seq2[T, error], whose error ends the stream; iter.Seq is not a result")
		}
		return false, nil
	}
	if !isError(args[1]) {
		return true, at("a server stream returns iter.Seq2[T, error]: its second type must be error, not %s", types.TypeString(args[1], types.RelativeTo(l.pkg.Types)))
	}
	if err := l.cannotTravel(args[0], at, "the stream's messages"); err != nil {
		return true, err
	}
	m.Out = &result{Type: args[0], Codec: codecOf(args[0])}
	return true, nil
}

// checkStreamShape checks what a stream method needs besides its iterators.
func checkStreamShape(m *method, at func(string, ...any) error) error {
	switch {
	case !m.streams():
		return nil
	case !m.HasCtx:
		return at("a stream method takes a context.Context first: it ends the stream on both sides")
	case m.Oneway:
		return at("a client stream is answered: return error, or (T, error), or iter.Seq2[T, error] to stream back")
	}
	return nil
}

// streamClientMethod writes the client method of a stream method.
func (e *emitter) streamClientMethod(n serviceNames, m *method) {
	rpcName := e.pkg(rpcPath)
	results := e.resultTypes(m)
	if m.Out != nil {
		results = e.pkg("iter") + ".Seq2[" + e.typ(m.Out.Type) + ", error]"
	}
	e.p("func (x *%s) %s(%s) (%s) {", n.ClientImpl, m.Name, e.params(m), results)
	e.newCall(n, m)
	switch {
	case m.In == nil:
		e.p("return %s.ServerStream(x.%s, ctx, call, %s)", rpcName, e.conn, e.msgDecoder(m.Out.Type, m.Out.Codec))
	case m.Out != nil:
		e.p("return %s.BidiStream(x.%s, ctx, call, %s, %s, %s)", rpcName, e.conn, m.In.Var, e.msgEncoder(m.In.Type, m.In.Codec), e.msgDecoder(m.Out.Type, m.Out.Codec))
	default:
		e.clientStreamCall(m, rpcName)
	}
	e.p("}")
}

// clientStreamCall writes the body of a client stream's method after its call.
func (e *emitter) clientStreamCall(m *method, rpcName string) {
	var rets []string
	for _, r := range m.Results {
		e.p("var %s %s", r.Var, e.typ(r.Type))
		rets = append(rets, r.Var)
	}
	e.p("d, err := %s.ClientStream(x.%s, ctx, call, %s, %s)", rpcName, e.conn, m.In.Var, e.msgEncoder(m.In.Type, m.In.Codec))
	e.p("if err != nil {")
	e.p("return %s", strings.Join(append(append([]string{}, rets...), "err"), ", "))
	e.p("}")
	for _, r := range m.Results {
		e.decode("d", "&d", r.Var, r.Type, r.Codec)
	}
	e.p("return %s", strings.Join(append(rets, "d.Finish()"), ", "))
}

// msgEncoder renders the function that encodes one message of type t.
func (e *emitter) msgEncoder(t types.Type, c codec) string {
	var b emitter = *e
	b.buf = bytes.Buffer{}
	b.p("func(e *%s.Encoder, v %s) {", e.pkg(rpcPath), e.typ(t))
	b.encode("e", "e", "v", t, c)
	b.buf.WriteString("}")
	return b.buf.String()
}

// msgDecoder renders the function that decodes one message of type t.
func (e *emitter) msgDecoder(t types.Type, c codec) string {
	var b emitter = *e
	b.buf = bytes.Buffer{}
	b.p("func(d *%s.Decoder) (%s, error) {", e.pkg(rpcPath), e.typ(t))
	b.p("var v %s", e.typ(t))
	b.decode("d", "d", "v", t, c)
	b.p("return v, d.Finish()")
	b.buf.WriteString("}")
	return b.buf.String()
}

// streamTypes returns the types of the method's stream messages.
func (m *method) streamTypes() []types.Type {
	var ts []types.Type
	if m.In != nil {
		ts = append(ts, m.In.Type)
	}
	if m.Out != nil {
		ts = append(ts, m.Out.Type)
	}
	return ts
}
