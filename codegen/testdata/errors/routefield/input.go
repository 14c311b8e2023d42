package routefield

import "context"

type User struct{ ID int }

type Bad interface {
	//ringrpc:routekey u.Missing
	Get(ctx context.Context, u User) (int, error)
}
