// The Greeter service for the Kitex peer: the same calls and payload as
// bench/internal/greeter, in Thrift. Unsigned Go fields travel as signed Thrift
// integers of the same width or wider, bit for bit.
namespace go greeter

struct Payload {
    1: i64 id
    2: string name
    3: string email
    4: bool active
    5: double score
    6: i32 age
    7: string country
    8: string city
    9: string street
    10: string zip
    11: string phone
    12: list<string> tags
    13: i64 created_unix
    14: i64 updated_unix
    15: double balance
    16: bool verified
    17: i64 visits
    18: double rating
    19: string note
    20: i64 version
}

service Greeter {
    string SayHello(1: string a, 2: string b)
    Payload Echo(1: Payload p)
}
