using System.Diagnostics;
using DockerProxy.Native;

namespace DockerProxy.Relay.Loop;

/// <summary>
/// How an event loop waits: after traffic it polls its epoll set for a while before it sleeps, so
/// an event due in a few microseconds is taken without the wake-up of a sleeping thread (on a
/// virtual machine, an inter-processor interrupt and a scheduler round trip each time). Between
/// polls it yields, so any runnable thread (the backend, the client) has the CPU first. A poll
/// that found nothing was CPU for nothing: after each such poll in a row the loop sleeps at once
/// for twice as many wake-ups (1, 3, 7 ... 63) before it tries again; a poll that pays starts that
/// over. So the poll lasts only while it pays, and an idle loop sleeps. Owned by the loop's thread.
/// </summary>
internal unsafe struct BusyPollWait
{
    private const int MaxFailedPolls = 6; // at most 63 wake-ups without a poll

    private int _failedPolls;
    private int _pollsToSkip;

    internal static long ToStopwatchTicks(TimeSpan value) => (long)(value.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Waits for events: polls for up to <paramref name="pollTicks"/> (Stopwatch ticks;
    /// 0: never), then sleeps. The count of events; 0 or less after an interruption (EINTR).</summary>
    internal int Wait(int epoll, byte* events, int maxEvents, long pollTicks)
    {
        int count = 0;
        if (pollTicks > 0 && _pollsToSkip == 0)
        {
            long deadline = Stopwatch.GetTimestamp() + pollTicks;
            while ((count = Epoll.Wait(epoll, events, maxEvents, 0)) == 0 && Stopwatch.GetTimestamp() < deadline)
            {
                _ = Libc.SchedYield();
            }

            if (count == 0)
            {
                _failedPolls = Math.Min(_failedPolls + 1, MaxFailedPolls);
                _pollsToSkip = (1 << _failedPolls) - 1;
            }
            else
            {
                _failedPolls = 0;
            }
        }
        else if (_pollsToSkip > 0)
        {
            _pollsToSkip--;
        }

        return count != 0 ? count : Epoll.Wait(epoll, events, maxEvents, -1);
    }
}
