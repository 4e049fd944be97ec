using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// The kernel's TCP socket table (/proc/net/tcp and tcp6): lets a test see the state of a socket the
/// relay holds, e.g. its backend leg in CLOSE_WAIT (the backend closed, the relay still holds it).
/// </summary>
internal static class TcpTable
{
    private static readonly Dictionary<string, string> States = new(StringComparer.Ordinal)
    {
        ["01"] = "ESTABLISHED",
        ["02"] = "SYN_SENT",
        ["03"] = "SYN_RECV",
        ["04"] = "FIN_WAIT1",
        ["05"] = "FIN_WAIT2",
        ["06"] = "TIME_WAIT",
        ["07"] = "CLOSE",
        ["08"] = "CLOSE_WAIT",
        ["09"] = "LAST_ACK",
        ["0A"] = "LISTEN",
        ["0B"] = "CLOSING",
    };

    /// <summary>The states of every socket whose remote end is remote (e.g. all connections to a backend).</summary>
    internal static IReadOnlyList<string> StatesOfConnectionsTo(IPEndPoint remote) => StatesWhere(remote, field: 2);

    /// <summary>The states of every socket whose local end is local (e.g. all connections on a proxied port).</summary>
    internal static IReadOnlyList<string> StatesOfConnectionsFrom(IPEndPoint local) => StatesWhere(local, field: 1);

    /// <summary>
    /// The timer the kernel has armed on the connection local -> remote ("tr" in /proc/net/tcp): 0
    /// none, 1 retransmit, 2 keepalive, 4 zero-window probe; null when there is no such connection.
    /// </summary>
    internal static int? TimerOf(IPEndPoint local, IPEndPoint remote) =>
        ConnectionLine(local, remote) is string[] fields ? int.Parse(fields[5].Split(':')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;

    /// <summary>
    /// The bytes queued on the connection local -> remote: sent but not yet acknowledged (Tx: with
    /// the peer's window closed, all it holds) and received but not yet read by the socket's owner
    /// (Rx); null when there is no such connection.
    /// </summary>
    internal static (long Tx, long Rx)? QueuesOf(IPEndPoint local, IPEndPoint remote)
    {
        if (ConnectionLine(local, remote) is not string[] fields)
        {
            return null;
        }

        string[] queues = fields[4].Split(':');
        return (long.Parse(queues[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), long.Parse(queues[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }

    /// <summary>How many connections wait in the accept queue of the socket listening on local (its
    /// rx_queue), or null when nothing listens there.</summary>
    internal static int? AcceptQueueLength(IPEndPoint local) =>
        ListenerLine(local) is string[] fields ? int.Parse(fields[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;

    /// <summary>The inode of the socket listening on local, or null: the same inode is the same socket.</summary>
    internal static string? ListenerInode(IPEndPoint local) => ListenerLine(local)?[9];

    /// <summary>The inode of the UDP socket bound to local (/proc/net/udp, udp6), or null.</summary>
    internal static string? UdpInode(IPEndPoint local)
    {
        string wanted = Encode(local);
        return Rows("udp", local).FirstOrDefault(f => f.Length > 9 && Is(f[1], wanted))?[9];
    }

    // Field 1 of a line is the local address, field 2 the remote one, field 3 the state.
    private static List<string> StatesWhere(IPEndPoint endPoint, int field)
    {
        string wanted = Encode(endPoint);
        return [.. Rows("tcp", endPoint).Where(f => f.Length > 3 && Is(f[field], wanted)).Select(f => States.GetValueOrDefault(f[3].ToUpperInvariant(), f[3]))];
    }

    // The fields of the line of the connection local -> remote, or null.
    private static string[]? ConnectionLine(IPEndPoint local, IPEndPoint remote)
    {
        string wantedLocal = Encode(local), wantedRemote = Encode(remote);
        return Rows("tcp", local).FirstOrDefault(f => f.Length > 5 && Is(f[1], wantedLocal) && Is(f[2], wantedRemote));
    }

    // The fields of the LISTEN socket's line for local, or null.
    private static string[]? ListenerLine(IPEndPoint local)
    {
        string wanted = Encode(local);
        return Rows("tcp", local).FirstOrDefault(f => f.Length > 9 && Is(f[1], wanted) && f[3] == "0A");
    }

    // The lines of /proc/net/PROTO (or PROTO6 for an IPv6 end point), split into fields, past the header.
    private static IEnumerable<string[]> Rows(string proto, IPEndPoint endPoint) =>
        File.ReadLines($"/proc/net/{proto}{(endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "6" : "")}")
            .Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static bool Is(string field, string encoded) => string.Equals(field, encoded, StringComparison.OrdinalIgnoreCase);

    // The kernel prints the address as 32-bit words in host (little-endian) order, the port big-endian.
    private static string Encode(IPEndPoint endPoint)
    {
        byte[] address = endPoint.Address.GetAddressBytes();
        var text = new System.Text.StringBuilder();
        for (int word = 0; word < address.Length; word += 4)
        {
            for (int i = 3; i >= 0; i--)
            {
                text.Append(address[word + i].ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.Append(':').Append(endPoint.Port.ToString("X4", CultureInfo.InvariantCulture)).ToString();
    }
}
