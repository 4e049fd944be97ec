using System.Globalization;
using System.Text;

namespace LoadGen;

/// <summary>One line of JSON on stdout: the figures of a run, for build/bench/bench.py.</summary>
internal sealed class Report
{
    private readonly StringBuilder _json = new("{");

    public Report Add(string key, double value)
    {
        Separator();
        _json.Append('"').Append(key).Append("\":").Append(value.ToString("R", CultureInfo.InvariantCulture));
        return this;
    }

    public Report Add(string key, string? value)
    {
        Separator();
        _json.Append('"').Append(key).Append("\":");
        if (value is null)
        {
            _json.Append("null");
            return this;
        }

        _json.Append('"');
        foreach (char c in value)
        {
            if (c is '"' or '\\')
            {
                _json.Append('\\').Append(c);
            }
            else if (c < ' ')
            {
                _json.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                _json.Append(c);
            }
        }

        _json.Append('"');
        return this;
    }

    public void Write()
    {
        _json.Append('}');
        Console.Out.WriteLine(_json.ToString());
        Console.Out.Flush();
    }

    private void Separator()
    {
        if (_json.Length > 1)
        {
            _json.Append(',');
        }
    }

    /// <summary>The report of a closed-loop run: rate over the window, round trips, failures.</summary>
    public static int Summarise(Window window, IReadOnlyList<WorkerResult> results, bool stalledThreads)
    {
        long completed = 0, lost = 0, stale = 0, errors = 0, wrong = 0, samples = 0;
        string? firstError = null;
        foreach (WorkerResult result in results)
        {
            completed += result.Completed;
            lost += result.Lost;
            stale += result.Stale;
            errors += result.Errors;
            wrong += result.WrongBytes;
            samples += result.LatencyCount;
            firstError ??= result.FirstError;
        }

        var all = new long[samples];
        int at = 0;
        foreach (WorkerResult result in results)
        {
            result.Latencies.CopyTo(all.AsSpan(at));
            at += result.LatencyCount;
        }

        Array.Sort(all);
        if (stalledThreads)
        {
            errors++;
            firstError ??= "worker threads still blocked 5 s after the window closed";
        }

        var report = new Report()
            .Add("completed", completed)
            .Add("seconds", window.Seconds)
            .Add("rate", completed / window.Seconds)
            .Add("lost", lost)
            .Add("stale", stale)
            .Add("errors", errors)
            .Add("wrong_bytes", wrong)
            .Add("first_error", firstError);
        if (all.Length > 0)
        {
            report.Add("p50_us", all[all.Length / 2] / 1000.0)
                  .Add("p90_us", Percentile(all, 0.90) / 1000.0)
                  .Add("p99_us", Percentile(all, 0.99) / 1000.0)
                  .Add("p999_us", Percentile(all, 0.999) / 1000.0)
                  .Add("mean_us", Mean(all) / 1000.0);
        }

        report.Add("own_cpu_s", window.OwnCpuSeconds);
        if (window.WatchedCpuSeconds is double cpu)
        {
            report.Add("watched_cpu_s", cpu);
        }

        report.Write();
        return errors == 0 && wrong == 0 && completed > 0 ? 0 : 1;
    }

    private static long Percentile(long[] sorted, double fraction) => sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * fraction))];

    private static double Mean(long[] values)
    {
        double sum = 0;
        foreach (long value in values)
        {
            sum += value;
        }

        return sum / values.Length;
    }
}
