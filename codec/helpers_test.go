package codec

import commonpb "go.temporal.io/api/common/v1"

func p2s(p *commonpb.Payload) []*commonpb.Payload { return []*commonpb.Payload{p} }
