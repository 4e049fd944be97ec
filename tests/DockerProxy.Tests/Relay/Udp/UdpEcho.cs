using System.Net;
using System.Net.Sockets;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// A UDP backend for relay tests: records the source address and bytes of every datagram it
/// receives and, unless told to stay silent, echoes each back to where it came from. It can also
/// send unsolicited datagrams (a backend that speaks first). Runs until disposed.
/// </summary>
internal sealed class UdpEcho : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly List<ReceivedDatagram> _received = [];
    private readonly bool _record;
    private readonly Task _loop;
    private volatile bool _replies;
    private int _count;

    /// <summary>Serves an already bound socket (e.g. one created inside a network namespace); owns it.</summary>
    internal UdpEcho(Socket socket, bool replies = true, bool record = true)
    {
        _socket = socket;
        _replies = replies;
        _record = record;
        EndPoint = Datagrams.LocalEndPoint(socket);
        _loop = Task.Run(LoopAsync);
    }

    internal IPEndPoint EndPoint { get; }

    /// <summary>Whether each datagram is echoed back (false: received and recorded only).</summary>
    internal bool Replies
    {
        get => _replies;
        set => _replies = value;
    }

    /// <summary>Datagrams received so far.</summary>
    internal int Count => Volatile.Read(ref _count);

    /// <summary>A backend on address:0 with large buffers.</summary>
    internal static UdpEcho Start(IPAddress address, bool replies = true, bool record = true) =>
        new(Datagrams.Bind(address), replies, record);

    /// <summary>What was received so far, in order.</summary>
    internal ReceivedDatagram[] Received()
    {
        lock (_gate)
        {
            return [.. _received];
        }
    }

    /// <summary>The source of the (first) datagram with exactly this payload; fails when none.</summary>
    internal IPEndPoint SourceOf(byte[] payload)
    {
        ReceivedDatagram? match = Received().FirstOrDefault(d => d.Payload.AsSpan().SequenceEqual(payload));
        match.Should().NotBeNull($"the backend received \"{Datagrams.Text(payload)}\"");
        return match!.From;
    }

    /// <summary>Sends a datagram from the backend's address to destination.</summary>
    internal async Task SendToAsync(byte[] payload, IPEndPoint destination)
    {
        int sent = await _socket.SendToAsync(payload, SocketFlags.None, destination).WaitAsync(Datagrams.Patience);
        sent.Should().Be(payload.Length);
    }

    private async Task LoopAsync()
    {
        byte[] buffer = new byte[65536];
        EndPoint any = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue; // an ICMP error for an earlier reply
            }
            catch (SocketException)
            {
                break;
            }

            var from = (IPEndPoint)result.RemoteEndPoint;
            byte[] payload = buffer.AsSpan(0, result.ReceivedBytes).ToArray();
            if (_record)
            {
                lock (_gate)
                {
                    _received.Add(new ReceivedDatagram(from, payload));
                }
            }

            Interlocked.Increment(ref _count);
            if (_replies)
            {
                try
                {
                    _ = await _socket.SendToAsync(payload, SocketFlags.None, from, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (ObjectDisposedException)
                {
                    break;
                }
                catch (SocketException)
                {
                    // Lost reply: the tests count what arrives.
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _loop.WaitAsync(Datagrams.Patience);
        _stop.Dispose();
    }
}
