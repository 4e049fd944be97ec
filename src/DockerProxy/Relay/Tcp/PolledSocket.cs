using System.Net.Sockets;
using DockerProxy.Native;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// A TCP socket on the <see cref="TcpEventLoop"/> (a connection's leg, or a listener, whose input
/// edges say a client is queued): registered once, edge-triggered, for input and output. The loop counts the edges; a direction reads (or writes) until the kernel
/// says EAGAIN, or a read comes back short, and then waits for an edge newer than the count it
/// noted before that call. A short read means the receive queue was empty when it returned, so any
/// byte that arrives later raises a new edge: no extra read that ends in EAGAIN is needed, as it is
/// with the socket engine's receive. (Not so for the peer's FIN: it may have come, and been
/// reported, before the read; <see cref="InputEnded"/> says so.) At most one direction reads a
/// socket and one writes it.
/// </summary>
internal sealed class PolledSocket
{
    private readonly object _gate = new();
    private int _readEdges;
    private int _writeEdges;
    private Readiness? _reader;
    private Readiness? _writer;
    private bool _closed;
    private bool _inputEnded;

    internal PolledSocket(Socket socket, ILogger logger)
    {
        Socket = socket;
        Logger = logger;
    }

    internal Socket Socket { get; }

    /// <summary>Where the loop reports a fault while it serves this socket.</summary>
    internal ILogger Logger { get; }

    /// <summary>The epoll token; set by <see cref="TcpEventLoop.Add"/>.</summary>
    internal ulong Token { get; set; }

    /// <summary>Input edges so far: note it before a read, wait with it after.</summary>
    internal int ReadEdges => Volatile.Read(ref _readEdges);

    /// <summary>The peer's FIN (or a reset, or an error) was reported. A short read does not then
    /// mean that nothing more is to come: the end of the stream may be pending, and no edge will
    /// announce it again (it may have been reported before the read).</summary>
    internal bool InputEnded => Volatile.Read(ref _inputEnded);

    /// <summary>Output edges so far: note it before a write, wait with it after.</summary>
    internal int WriteEdges => Volatile.Read(ref _writeEdges);

    /// <summary>True once an input edge newer than <paramref name="seen"/> came (or at once if one
    /// already did); false once the socket is closed.</summary>
    internal ValueTask<bool> WhenReadable(int seen, Readiness waiter) => Wait(ref _readEdges, ref _reader, seen, waiter);

    /// <summary>True once an output edge newer than <paramref name="seen"/> came; false once closed.</summary>
    internal ValueTask<bool> WhenWritable(int seen, Readiness waiter) => Wait(ref _writeEdges, ref _writer, seen, waiter);

    /// <summary>Ends every wait with false, now and later: the connection is being cut. Any thread.</summary>
    internal void Close()
    {
        Readiness? reader, writer;
        lock (_gate)
        {
            _closed = true;
            reader = _reader;
            writer = _writer;
            _reader = _writer = null;
        }

        reader?.Complete(false);
        writer?.Complete(false);
    }

    /// <summary>The loop reports the events of one wake-up (epoll's bits). On the loop's thread.</summary>
    internal void OnEvents(uint events)
    {
        Readiness? reader = null, writer = null;
        lock (_gate)
        {
            if ((events & TcpEventLoop.InputEvents) != 0)
            {
                if ((events & TcpEventLoop.InputEvents & ~Epoll.In) != 0)
                {
                    Volatile.Write(ref _inputEnded, true); // before the edge count: a reader that sees the count sees this
                }

                Volatile.Write(ref _readEdges, _readEdges + 1);
                reader = _reader;
                _reader = null;
            }

            if ((events & TcpEventLoop.OutputEvents) != 0)
            {
                Volatile.Write(ref _writeEdges, _writeEdges + 1);
                writer = _writer;
                _writer = null;
            }
        }

        // Outside the lock: each continuation runs here, inline, and may wait again.
        reader?.Complete(true);
        writer?.Complete(true);
    }

    private ValueTask<bool> Wait(ref int edges, ref Readiness? slot, int seen, Readiness waiter)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return new ValueTask<bool>(false);
            }

            if (edges != seen)
            {
                return new ValueTask<bool>(true);
            }

            slot = waiter;
            return waiter.Task;
        }
    }
}
