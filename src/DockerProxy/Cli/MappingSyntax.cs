using System.Globalization;
using System.Net;
using DockerProxy.Relay.Multi;

namespace DockerProxy.Cli;

/// <summary>
/// Reads one mapping as -map and the lines of -config write it:
/// <c>PROTO:HOST_IP:HOST_PORT[-END]:CONTAINER_IP:CONTAINER_PORT[-END]</c>, IPv6 addresses in
/// brackets (<c>tcp:[::1]:8080:[fd00::2]:80</c>). A range maps port to port, so the host and
/// container ranges must have the same length (the rule of docker run -p for ranges).
/// </summary>
internal static class MappingSyntax
{
    /// <summary>The expanded mappings, or null with <paramref name="problem"/> saying what is wrong.</summary>
    internal static List<Mapping>? Parse(string text, out string? problem)
    {
        problem = null;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            problem = "expected PROTO:HOST_IP:HOST_PORT:CONTAINER_IP:CONTAINER_PORT";
            return null;
        }

        string proto = text[..colon];
        if (proto is not ("tcp" or "udp" or "sctp"))
        {
            problem = $"unsupported protocol \"{proto}\": must be tcp, udp or sctp";
            return null;
        }

        int at = colon + 1;
        if (!ReadAddress(text, ref at, "host", out IPAddress? hostIp, out problem)
            || !ReadPorts(text, ref at, "host", 1, out int hostFirst, out int hostLast, out problem)
            || !ReadAddress(text, ref at, "container", out IPAddress? containerIp, out problem)
            || !ReadPorts(text, ref at, "container", 1, out int containerFirst, out int containerLast, out problem))
        {
            return null;
        }

        if (at != text.Length + 1)
        {
            problem = "expected PROTO:HOST_IP:HOST_PORT:CONTAINER_IP:CONTAINER_PORT";
            return null;
        }

        if (containerIp!.Equals(IPAddress.Any) || containerIp.Equals(IPAddress.IPv6Any))
        {
            problem = $"invalid container ip {containerIp}: must be a unicast address";
            return null;
        }

        if (hostLast - hostFirst != containerLast - containerFirst)
        {
            problem = string.Create(CultureInfo.InvariantCulture,
                $"the host range has {hostLast - hostFirst + 1} ports and the container range {containerLast - containerFirst + 1}: they must be the same length");
            return null;
        }

        var mappings = new List<Mapping>(hostLast - hostFirst + 1);
        for (int offset = 0; offset <= hostLast - hostFirst; offset++)
        {
            mappings.Add(new Mapping(proto, new IPEndPoint(hostIp!, hostFirst + offset), new IPEndPoint(containerIp, containerFirst + offset)));
        }

        return mappings;
    }

    // An address up to the next colon: IPv4 as it is, IPv6 in brackets. at moves past the colon.
    private static bool ReadAddress(string text, ref int at, string side, out IPAddress? address, out string? problem)
    {
        address = null;
        problem = null;
        string field;
        if (at < text.Length && text[at] == '[')
        {
            int close = text.IndexOf(']', at);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                problem = $"the {side} address has no closing \"]:\"";
                return false;
            }

            field = text[(at + 1)..close];
            at = close + 2;
            address = field.Contains(':', StringComparison.Ordinal) ? GoSyntax.ParseIp(field) : null;
        }
        else
        {
            int colon = at <= text.Length ? text.IndexOf(':', at) : -1;
            if (colon < 0)
            {
                problem = $"missing the {side} address or port";
                return false;
            }

            field = text[at..colon];
            at = colon + 1;
            address = field.Contains(':', StringComparison.Ordinal) ? null : GoSyntax.ParseIp(field);
        }

        if (address is null)
        {
            problem = $"invalid {side} ip \"{field}\" (IPv6 addresses go in brackets: [::1])";
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4(); // as the classic flags: a mapped address listens as IPv4
        }

        return true;
    }

    // PORT or FIRST-LAST, up to the next colon (or the end for the container's). at moves past the colon.
    private static bool ReadPorts(string text, ref int at, string side, int min, out int first, out int last, out string? problem)
    {
        first = last = 0;
        problem = null;
        int end = at <= text.Length ? text.IndexOf(':', at) : -1;
        if (side == "container")
        {
            end = text.Length;
            if (at > text.Length || text.IndexOf(':', Math.Min(at, text.Length)) >= 0)
            {
                problem = "expected PROTO:HOST_IP:HOST_PORT:CONTAINER_IP:CONTAINER_PORT";
                return false;
            }
        }
        else if (end < 0)
        {
            problem = "missing the container address";
            return false;
        }

        string field = text[at..end];
        at = end + 1;
        int dash = field.IndexOf('-', StringComparison.Ordinal);
        string firstText = dash < 0 ? field : field[..dash];
        string lastText = dash < 0 ? field : field[(dash + 1)..];
        if (!TryPort(firstText, min, out first) || !TryPort(lastText, min, out last))
        {
            problem = $"invalid {side} port \"{field}\": must be {min}-65535 or a range FIRST-LAST";
            return false;
        }

        if (last < first)
        {
            problem = $"invalid {side} port range \"{field}\": the end is below the start";
            return false;
        }

        return true;
    }

    private static bool TryPort(string text, int min, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port >= min && port <= 65535;
}
