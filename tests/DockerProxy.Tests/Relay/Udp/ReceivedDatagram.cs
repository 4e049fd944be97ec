using System.Net;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>One datagram as a peer received it: where it came from, and its bytes.</summary>
internal sealed record ReceivedDatagram(IPEndPoint From, byte[] Payload);
