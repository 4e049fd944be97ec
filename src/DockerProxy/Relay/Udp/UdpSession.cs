using System.Net.Sockets;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// One client of a UDP relay, NAT style: its own connected socket to the backend (so the backend
/// sees one stable source port per client) watched by the <see cref="UdpEventLoop"/>, and the local
/// address the client last sent to, used as the source of the replies. The links place it in the
/// table's least-recently-used order.
/// </summary>
internal sealed class UdpSession : LoopMember
{
    private readonly UdpRelay _relay;
    private int _closed;

    internal UdpSession(UdpRelay relay, UdpEndpoint client, Socket backend, long now)
    {
        _relay = relay;
        Client = client;
        Backend = backend;
        LastActive = now;
    }

    internal UdpEndpoint Client { get; }

    internal Socket Backend { get; }

    /// <summary>Where the client's last datagram was addressed: the source of the replies.</summary>
    internal UdpEndpoint Local { get; set; }

    /// <summary>Timestamp (TimeProvider) of the last datagram either way; guarded by the table's lock.</summary>
    internal long LastActive { get; set; }

    /// <summary>Towards the most recently used end of the table's list; guarded by the table's lock.</summary>
    internal UdpSession? Newer { get; set; }

    /// <summary>Towards the least recently used end; guarded by the table's lock.</summary>
    internal UdpSession? Older { get; set; }

    /// <summary>Whether the session is still in its table.</summary>
    internal bool InTable { get; set; }

    internal bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Leaves the event loop and closes the backend socket. Idempotent; any thread.</summary>
    internal void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            if (Registered)
            {
                UdpEventLoop.Shared.Remove(this, Backend);
            }

            Backend.Dispose();
        }
    }

    /// <summary>Whether the event loop watches the backend socket (set before the session is shared).</summary>
    internal bool Registered { get; set; }

    internal override void OnReadable(UdpEventLoop loop) => _relay.OnReply(loop, this);

    internal override void OnFault(Exception error) => _relay.OnFault(error);
}
