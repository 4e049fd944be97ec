using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace DockerProxy.Metrics;

/// <summary>
/// Listens to the "DockerProxy" meter and keeps one running total per instrument (a sum: counters
/// only grow, up-down counters give the current level). Made only when someone will read it: the
/// -metrics-listen exposition or the SIGUSR1 summary in a visible log. Never under dockerd's
/// defaults, so there every instrument stays disabled and each Add is one flag check.
/// </summary>
internal sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly long[] _totals = new long[ProxyMetrics.All.Length];

    internal MetricsCollector()
    {
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            int index = Array.IndexOf(ProxyMetrics.All, instrument);
            if (index >= 0)
            {
                listener.EnableMeasurementEvents(instrument, index); // boxed once here, not per measurement
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The running total of <paramref name="instrument"/>.</summary>
    internal long Total(Instrument instrument)
    {
        int index = Array.IndexOf(ProxyMetrics.All, instrument);
        return index < 0 ? 0 : Volatile.Read(ref _totals[index]);
    }

    /// <summary>The Prometheus text exposition format 0.0.4: HELP, TYPE and one sample per instrument.</summary>
    internal string RenderPrometheus()
    {
        var text = new StringBuilder(2048);
        foreach (Instrument instrument in ProxyMetrics.All)
        {
            bool counter = instrument is Counter<long>;
            string name = instrument.Name.Replace('.', '_') + (counter ? "_total" : string.Empty);
            text.Append("# HELP ").Append(name).Append(' ').Append(instrument.Description).Append('\n');
            text.Append("# TYPE ").Append(name).Append(counter ? " counter\n" : " gauge\n");
            text.Append(name).Append(' ').Append(Total(instrument).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>One line for the log: every total, by its short name.</summary>
    internal string Summary()
    {
        var text = new StringBuilder(256);
        foreach (Instrument instrument in ProxyMetrics.All)
        {
            if (text.Length > 0)
            {
                text.Append(", ");
            }

            text.Append(instrument.Name["docker_proxy.".Length..]).Append('=').Append(Total(instrument).ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state) =>
        Interlocked.Add(ref _totals[(int)state!], value);
}
