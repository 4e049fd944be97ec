using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Multi;

/// <summary>
/// Runs of consecutive free ports for tests that map ranges. Ports are taken below the kernel's
/// ephemeral range (32768 and up), where nothing picks them at random, on a loopback address of
/// their own (127.x.y.1: the whole of 127/8 is loopback), so that other tests cannot collide.
/// A run is proven free by binding every port of it; a run that fails is dropped and another
/// tried, a bounded number of times.
/// </summary>
internal static class PortRange
{
    private const int Lowest = 10000;
    private const int Highest = 32000;
    private const int Attempts = 30;

    /// <summary>A loopback address unlikely to be used by any other test at the same time.</summary>
    internal static IPAddress PrivateLoopback() =>
        new([127, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255), 1]);

    /// <summary>Binds count consecutive ports (TCP listening or UDP) on address and keeps them.</summary>
    internal static List<Socket> Bind(IPAddress address, int count, SocketType type, int avoidFirst = 0, int avoidLast = -1)
    {
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            int first = Random.Shared.Next(Lowest, Highest - count);
            if (first <= avoidLast && first + count - 1 >= avoidFirst)
            {
                continue;
            }

            var sockets = new List<Socket>(count);
            try
            {
                for (int port = first; port < first + count; port++)
                {
                    var socket = new Socket(address.AddressFamily, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
                    sockets.Add(socket);
                    socket.Bind(new IPEndPoint(address, port));
                    if (type == SocketType.Stream)
                    {
                        socket.Listen(64);
                    }
                }

                return sockets;
            }
            catch (SocketException)
            {
                sockets.ForEach(s => s.Dispose());
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free ports on {address} after {Attempts} attempts");
    }

    /// <summary>The first port of count consecutive ports that were free a moment ago (bound, then released).</summary>
    internal static int Free(IPAddress address, int count, int avoidFirst = 0, int avoidLast = -1, SocketType type = SocketType.Stream)
    {
        List<Socket> probe = Bind(address, count, type, avoidFirst, avoidLast);
        int first = ((IPEndPoint)probe[0].LocalEndPoint!).Port;
        probe.ForEach(s => s.Dispose());
        return first;
    }

    internal static int FirstPort(List<Socket> sockets) => ((IPEndPoint)sockets[0].LocalEndPoint!).Port;
}
