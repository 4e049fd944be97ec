using System.Globalization;
using System.Net;

namespace DockerProxy.Relay.Multi;

/// <summary>One port of one protocol relayed to one container port. Two mappings are the same
/// mapping when all three parts are equal: that is what a reload keeps untouched.</summary>
/// <param name="Proto">tcp, udp or sctp.</param>
/// <param name="Host">Where to listen (never port 0: a reload must find the same port again).</param>
/// <param name="Container">Where to relay to.</param>
internal sealed record Mapping(string Proto, IPEndPoint Host, IPEndPoint Container)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Proto} {Host} -> {Container}");
}
