package unknowndirective

type Bad interface {
	//ringrpc:retry
	Get() (int, error)
}
