"""Forty hand-written mails (eight per class, half English, half Spanish), not from the generator.

Written the way such mails arrive (vendor notifications, colleagues' one-liners, phishing,
quoted replies), after the generator's phrases and without running the model on them first;
``bench.mail_classify`` reports the model's accuracy on them next to the held-out figure. By
the same author as the phrases, so an indication of how far the generated corpus carries, not
a measurement on real mail.
"""

from __future__ import annotations

# (class, subject, body)
HANDWRITTEN: list[tuple[str, str, str]] = [
    # invoice
    ("invoice", "Your receipt from Figma #2291-4410",
     "Receipt\nAmount paid $180.00\nDate paid Oct 3, 2025\nPayment method Visa ending 4242\n"
     "Professional plan (annual). Download your invoice PDF from the admin console."),
    ("invoice", "Invoice 000318 - October consulting",
     "Hi Mark,\nHere's my invoice for October: 42 hours at 85 EUR/h = 3,570 EUR. "
     "Bank details are on the PDF as usual. Thanks!\nLucy"),
    ("invoice", "Your Vodafone bill for November is ready",
     "Your bill of £34.50 is now ready to view in My Vodafone. We'll take the payment by "
     "Direct Debit on or after 21 November."),
    ("invoice", "FW: invoice for the printer toner",
     "---------- Forwarded message ---------\nPlease find attached invoice 7781 for 12 toner "
     "cartridges, total 1,056.00 EUR incl. VAT. Payment due within 30 days."),
    ("invoice", "Factura Endesa - periodo 05/09/2025 a 04/10/2025",
     "Le informamos que ya está disponible su factura de luz por importe de 64,12 €. "
     "Se cargará en su cuenta bancaria en los próximos días. Puede consultarla en el área "
     "de clientes."),
    ("invoice", "Fra. 2025-0456 Talleres Martín",
     "Buenas tardes, os paso la factura de la reparación de la furgoneta (cambio de "
     "embrague), total 1.180,00 € IVA incluido. Forma de pago: transferencia a 15 días."),
    ("invoice", "Envío factura pedido 88213",
     "Adjunto remitimos factura correspondiente a su pedido 88213 de material de oficina. "
     "Un saludo, Dpto. Administración"),
    ("invoice", "Recibo de tu suscripción a Spotify",
     "Gracias por tu pago. Plan Premium Familiar, 17,99 €, fecha 12/10/2025. "
     "Este correo sirve como recibo de tu compra."),
    # reminder
    ("reminder", "Invoice 000318 - still open?",
     "Hi Mark, hope all is well. I noticed invoice 000318 from October hasn't been paid yet, "
     "it was due last Friday. Could you check? Thanks, Lucy"),
    ("reminder", "We couldn't process your payment",
     "Your payment of $12.99 for your subscription was declined. Please update your billing "
     "information within 3 days to keep your account active."),
    ("reminder", "Statement of account - overdue items",
     "Dear customer, our statement shows 2 invoices overdue by more than 60 days, total "
     "4,212.80 EUR. Please arrange payment or contact our credit control team."),
    ("reminder", "RE: payment",
     "> when can we expect the transfer?\nJust following up on this, the invoice is now 45 "
     "days late and we haven't had any news. Please settle it this week."),
    ("reminder", "Recordatorio: factura 2025-0456 pendiente",
     "Buenos días, os recordamos que la factura de la reparación sigue pendiente de pago "
     "desde hace un mes. ¿Nos decís cuándo se hará la transferencia?"),
    ("reminder", "Aviso de impago - contrato 554120",
     "Estimado cliente: no hemos recibido el pago del recibo de septiembre. Si no regulariza "
     "la deuda en 10 días, procederemos a suspender el suministro."),
    ("reminder", "Segunda reclamación de pago",
     "Muy señores nuestros: a pesar de nuestra comunicación anterior, sigue pendiente el "
     "importe de 980,00 €. Les rogamos procedan a su abono a la mayor brevedad."),
    ("reminder", "Tu pago ha sido rechazado",
     "No hemos podido cobrar tu cuota mensual. Revisa tu tarjeta antes del día 20 para "
     "evitar que se cancele tu cuenta."),
    # support
    ("support", "Sync stuck at 99%",
     "Hi, since the last update my files never finish syncing, the progress bar stays at "
     "99%. I'm on macOS 14. Restarting didn't help. Any ideas?"),
    ("support", "Wrong billing address on my account",
     "Hello, I moved house and can't find where to change the billing address in the "
     "settings. Could you update it or tell me how? Thanks"),
    ("support", "Order 55102 never arrived",
     "It's been two weeks and my order still shows 'in transit'. The courier says they "
     "don't have it. What can you do?"),
    ("support", "2FA codes not working",
     "The codes from my authenticator app are always rejected, so I'm locked out. Please "
     "help me get back into my account."),
    ("support", "La impresora no imprime en color",
     "Hola, desde que instalé el nuevo driver la impresora solo imprime en blanco y negro. "
     "¿Sabéis cómo arreglarlo?"),
    ("support", "Consulta sobre mi tarifa",
     "Buenas, quiero cambiarme a la tarifa con más datos pero en la web me da un error al "
     "confirmar. ¿Me podéis ayudar?"),
    ("support", "Devolución pedido 55102",
     "Hola, las zapatillas me quedan pequeñas. ¿Cómo hago la devolución? No encuentro la "
     "etiqueta en la caja."),
    ("support", "No puedo descargar la factura",
     "Al intentar descargar mis facturas en PDF desde la web me sale una página en blanco. "
     "Lo he probado en Firefox y Chrome."),
    # spam
    ("spam", "Your Netflix account is on hold",
     "We're having trouble with your current billing information. Update your payment "
     "details within 24 hours at http://netflix-billing-update.com or your account will "
     "be closed."),
    ("spam", "New arrivals you'll love",
     "Fresh styles just landed. Shop now and get free shipping over $75. View in browser | "
     "Unsubscribe"),
    ("spam", "The Morning Brief: markets, AI and more",
     "Good morning! Today: markets rally, a new AI model, and five recipes for the weekend. "
     "You're receiving this because you signed up at our website."),
    ("spam", "Congratulations! You've been chosen",
     "Dear user, you have been randomly selected to win an iPhone 16. Answer 3 questions and "
     "pay only shipping to claim your prize!"),
    ("spam", "Última oportunidad: 2x1 en todo",
     "Solo hasta el domingo, compra 2 y paga 1 en toda la tienda. ¡No te lo pierdas! "
     "Darse de baja"),
    ("spam", "Correos: su envío no ha podido ser entregado",
     "Su paquete está pendiente del pago de 2,99 € en concepto de tasas. Pague en "
     "http://correos-envios.info antes de 48 horas o será devuelto."),
    ("spam", "Boletín de noviembre",
     "En este boletín: nuevas funciones, eventos del mes y un descuento para suscriptores. "
     "Si no quieres recibir más correos, actualiza tus preferencias."),
    ("spam", "Gana 300 € al día con este método",
     "Descubre cómo miles de personas ganan dinero desde casa sin experiencia. Plazas "
     "limitadas, regístrate hoy mismo."),
    # other
    ("other", "Slides for tomorrow",
     "Hi team, I've put the slides for tomorrow's client meeting in the shared folder. "
     "Please add your section by tonight."),
    ("other", "Fire drill on Wednesday",
     "There will be a fire drill on Wednesday at 11:00. Please leave the building by the "
     "nearest exit and meet at the car park."),
    ("other", "Re: dinner",
     "Sounds great, see you at 8 at the Italian place. I'll book a table for four."),
    ("other", "New parking rules",
     "From next month, parking spaces will be assigned by rota. The list is on the intranet."),
    ("other", "Acta de la reunión del martes",
     "Hola a todos, adjunto el acta de la reunión del martes con los acuerdos y las tareas "
     "de cada uno."),
    ("other", "Cambio de horario en verano",
     "Os recuerdo que a partir del 1 de julio la jornada será intensiva de 8 a 15 h."),
    ("other", "Re: ¿comemos el jueves?",
     "¡Perfecto! Nos vemos el jueves a las dos en la puerta de la oficina."),
    ("other", "Formación de prevención de riesgos",
     "La formación obligatoria de prevención de riesgos laborales será el día 14 en la sala "
     "grande. Es necesario asistir."),
]
